"""The ops server: /healthz from the loop monitor, /readyz from the pipeline, /metrics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from tracewatch.ops.health import LoopMonitor
from tracewatch.ops.metrics import Metrics
from tracewatch.ops.server import OpsServer, parse_address

from ..export.builders import TRACE, pod_startup

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class Readiness:
    def __init__(self) -> None:
        self.ready = False

    def __call__(self) -> tuple[bool, Mapping[str, Any]]:
        waiting = [] if self.ready else [{"resource": "pods", "namespace": "*"}]
        return self.ready, {"informers_not_ready": waiting}


async def get(url: str, *, accept: str | None = None) -> tuple[int, str, str]:
    headers = {"Accept": accept} if accept else {}
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_readyz_follows_the_pipeline_and_names_what_is_missing() -> None:
    """503 with the informers not yet synced, then 200 once the pipeline is ready."""
    readiness = Readiness()
    async with OpsServer(address="127.0.0.1:0", registry=Metrics().registry,
                         readiness=readiness) as server:
        status, _, body = await get(f"{server.url}/readyz")
        assert status == 503
        assert '"resource": "pods"' in body
        readiness.ready = True
        status, _, body = await get(f"{server.url}/readyz")
        assert status == 200
        assert '"status": "ready"' in body


async def test_healthz_reports_a_starved_loop() -> None:
    """/healthz is 200 on a free loop and 503 right after the loop was blocked past the limit."""
    lags: list[float] = []
    monitor = LoopMonitor(interval_s=0.2, max_lag_s=0.1, on_lag=lags.append)
    async with OpsServer(address="127.0.0.1:0", registry=Metrics().registry,
                         readiness=Readiness(), monitor=monitor) as server:
        await asyncio.sleep(0.25)
        status, _, _ = await get(f"{server.url}/healthz")
        assert status == 200
        time.sleep(0.4)  # block the event loop, as a CPU-bound bug would
        async with asyncio.timeout(1):
            while monitor.lag_s <= 0.1:  # the monitor's late tick measures the lag
                await asyncio.sleep(0.005)
        status, _, body = await get(f"{server.url}/healthz")
        assert status == 503
        assert "lagging" in body
        assert max(lags) > 0.1
        await asyncio.sleep(0.25)  # and recovers once the loop runs freely again
        status, _, _ = await get(f"{server.url}/healthz")
        assert status == 200


def test_healthz_fails_when_the_monitor_stops_ticking() -> None:
    """A monitor that has not ticked for longer than interval + limit means an unhealthy loop."""
    now = [100.0]
    monitor = LoopMonitor(interval_s=1, max_lag_s=5, monotonic=lambda: now[0])
    assert monitor.check().healthy
    now[0] += 7
    health = monitor.check()
    assert not health.healthy and "not ticked" in health.reason


async def test_metrics_text_by_default_openmetrics_with_exemplars_on_request() -> None:
    """Prometheus text for a plain scrape; OpenMetrics with the trace-id exemplar when asked."""
    metrics = Metrics()
    metrics.observe_emitted(pod_startup(), kept_trace_ids={TRACE}, sampled_out=0)
    async with OpsServer(address="127.0.0.1:0", registry=metrics.registry,
                         readiness=Readiness()) as server:
        status, content_type, text = await get(f"{server.url}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain")
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"tracewatch_pod_startup_duration_seconds", "tracewatch_lifecycles",
                "process_resident_memory_bytes"} <= names
        assert "# {trace_id=" not in text
        status, content_type, text = await get(f"{server.url}/metrics", accept=OPENMETRICS)
        assert content_type.startswith("application/openmetrics-text")
        exemplars = [s.exemplar for f in parse_om(text) for s in f.samples if s.exemplar]
        assert {e.labels["trace_id"] for e in exemplars} == {TRACE.hex()}


async def test_binding_a_taken_port_raises_oserror() -> None:
    """A second server on the same port fails with OSError (the daemon turns it into one line)."""
    async with OpsServer(address="127.0.0.1:0", registry=Metrics().registry,
                         readiness=Readiness()) as server:
        other = OpsServer(address=f"127.0.0.1:{server.port}", registry=Metrics().registry,
                          readiness=Readiness())
        with pytest.raises(OSError):
            await other.start()
        await other.stop()


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":8080", (None, 8080)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9", ("::1", 9))],
)
def test_parse_address(address: str, expected: tuple[str | None, int]) -> None:
    """:port listens on all interfaces; host:port and [v6]:port on one."""
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", ["8080", "host:port", ":70000"])
def test_parse_address_rejects_garbage(address: str) -> None:
    """Anything but host:port is a ValueError naming the value."""
    with pytest.raises(ValueError, match="not an address"):
        parse_address(address)
