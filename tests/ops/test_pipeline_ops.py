"""The pipeline's ops surface against the simulated cluster: metrics, readiness, sampling, gate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from tracewatch.config import load
from tracewatch.daemon import Pipeline, exporter_from_settings
from tracewatch.kube.connection import ApiConnection
from tracewatch.ops.server import OpsServer
from tracewatch.sim import SimCluster, SimOptions, pod_manifest

from ..receivers import GrpcReceiver

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


@dataclass
class Running:
    pipeline: Pipeline
    server: OpsServer
    receiver: GrpcReceiver
    sim: SimCluster


@asynccontextmanager
async def running(
    tmp_path: Path, *, token: str | None = None, gate: Any = None, **flags: Any
) -> AsyncIterator[Running]:
    """Sim -> Pipeline -> gRPC receiver, with the ops server up; stops and flushes on exit."""
    async with (
        GrpcReceiver() as receiver,
        SimCluster(options=SimOptions(seed=3, preloaded_images=("busybox:1.36",))) as sim,
    ):
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", token=token)
        settings = load(flags={"exporter": "otlp", "otlp_endpoint": receiver.endpoint,
                               "settle_delay": "200ms", **flags}, environ={})
        connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
        async with connection:
            pipeline = Pipeline(settings=settings, connection=connection,
                                exporter=exporter_from_settings(settings, environ={}), gate=gate)
            server = OpsServer(address="127.0.0.1:0", registry=pipeline.metrics.registry,
                               readiness=pipeline.readiness)
            stop = asyncio.Event()
            task = asyncio.create_task(pipeline.run(stop))
            try:
                async with server:
                    yield Running(pipeline, server, receiver, sim)
            finally:
                stop.set()
                await task


async def start_pods(run: Running, n: int) -> None:
    async with asyncio.timeout(10):
        await run.pipeline.wait_ready()
    for i in range(n):
        await run.sim.create("pods", pod_manifest(f"p{i}", image="busybox:1.36"),
                             namespace="default")
    async with asyncio.timeout(30):
        await run.pipeline.wait_for_traces(n)


async def scrape(run: Running, *, accept: str = "") -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{run.server.url}/metrics", headers={"Accept": accept}) as response,
    ):
        return await response.text()


def values(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scrape_after_pod_startups(tmp_path: Path) -> None:
    """After two pod startups the scrape shows observations, lifecycles, startups and exports."""
    async with running(tmp_path) as run:
        await start_pods(run, 2)
        spans = await run.receiver.wait_for(
            lambda got: sum(s.name == "k8s.CreatePod" for s in got) >= 2, timeout=10)
        async with asyncio.timeout(5):
            while run.pipeline.spans_exported < len(spans):
                await asyncio.sleep(0.01)
        got = values(await scrape(run))
        pods = frozenset({("resource", "pods"), ("type", "ADDED")})
        assert got[("tracewatch_observations_total", pods)] >= 2
        assert got[("tracewatch_lifecycles_total",
                    frozenset({("kind", "k8s.CreatePod"), ("outcome", "completed")}))] == 2
        assert got[("tracewatch_pod_startup_duration_seconds_count", frozenset())] == 2
        assert got[("tracewatch_spans_exported_total", frozenset())] == len(spans)
        assert got[("tracewatch_spans_emitted_total", frozenset())] == len(spans)
        assert got[("tracewatch_export_duration_seconds_count",
                    frozenset({("result", "success")}))] >= 1
        assert got[("tracewatch_ready", frozenset())] == 1
        assert got[("tracewatch_informer_synced",
                    frozenset({("resource", "pods"), ("namespace", "")}))] == 1
        text = await scrape(run, accept=OPENMETRICS)
        exemplar_ids = {
            s.exemplar.labels["trace_id"]
            for f in parse_om(text) if f.name == "tracewatch_pod_startup_duration_seconds"
            for s in f.samples if s.exemplar
        }
        roots = {s.trace_id for s in spans if s.name == "k8s.CreatePod"}
        assert exemplar_ids and exemplar_ids <= roots


async def test_sampled_out_lifecycles_are_counted_not_exported(tmp_path: Path) -> None:
    """At ratio 0 ordinary startups are left out: nothing reaches the backend, all is counted."""
    async with running(tmp_path, sample_ratio="0", sample_keep_slower_than="1h") as run:
        await start_pods(run, 2)
        got = values(await scrape(run))
        emitted = got[("tracewatch_spans_emitted_total", frozenset())]
        assert emitted > 0
        assert got[("tracewatch_spans_sampled_out_total", frozenset())] == emitted
        assert run.pipeline.queue.stats.enqueued == 0
    assert run.receiver.spans() == []


async def test_closed_gate_keeps_a_standby_from_exporting(tmp_path: Path) -> None:
    """With the export gate closed (a standby replica) nothing is exported; what was kept for
    a takeover is let go after the takeover window and counted as standby drops."""

    class Standby:
        exporting = False

    election = {"lease_duration": "1s", "renew_deadline": "700ms", "retry_period": "200ms"}
    async with running(tmp_path, gate=Standby(), **election) as run:
        await start_pods(run, 1)
        standby = ("tracewatch_spans_dropped_total", frozenset({("reason", "standby")}))
        async with asyncio.timeout(10):
            while True:
                got = values(await scrape(run))
                emitted = got[("tracewatch_spans_emitted_total", frozenset())]
                if got.get(standby) == emitted:
                    break
                await asyncio.sleep(0.2)
    assert run.receiver.spans() == []


async def test_readyz_is_false_while_the_token_is_refused(tmp_path: Path) -> None:
    """A wrong token keeps /readyz at 503 and names the informers failing auth."""
    async with running(tmp_path, token="not-the-token") as run:
        async with asyncio.timeout(10):
            while not any(i.auth_failing for i in run.pipeline.informers):
                await asyncio.sleep(0.02)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{run.server.url}/readyz") as response,
        ):
            body = await response.json()
            assert response.status == 503
        assert any(i["auth_failing"] for i in body["informers_not_ready"])
        assert "not-the-token" not in str(body)


async def test_a_fault_in_the_engine_skips_one_observation_not_the_pipeline(
    tmp_path: Path, capsys: Any
) -> None:
    """If the engine raises on an observation, that one is skipped, counted and logged with
    its traceback; the pipeline goes on tracing the other pods. A fault in the shutdown drain
    still lets the pipeline flush and stop."""
    async with running(tmp_path) as run:
        observe = run.pipeline.engine.observe
        failed: list[str] = []

        def flaky(observation: Any) -> Any:
            meta = observation.obj.metadata
            if observation.resource == "pods" and meta.name == "p0" and not failed:
                failed.append(meta.uid)
                raise RuntimeError("engine fault for the test")
            return observe(observation)

        def broken_drain() -> Any:
            raise RuntimeError("drain fault for the test")

        run.pipeline.engine.observe = flaky  # type: ignore[method-assign]
        run.pipeline.engine.drain = broken_drain  # type: ignore[method-assign]
        await start_pods(run, 3)  # waits for three traces: p0's later observations still count
        got = values(await scrape(run))
        assert got[("tracewatch_engine_counts_total",
                    frozenset({("counter", "observations.failed")}))] == 1
        assert got[("tracewatch_lifecycles_total",
                    frozenset({("kind", "k8s.CreatePod"), ("outcome", "completed")}))] == 3
    assert run.pipeline.engine.counters["advances.failed"] == 1  # the drain, at shutdown
    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "engine.failed" in text and "engine fault for the test" in text
    assert "drain fault for the test" in text
    assert failed[0] in text  # which object, by uid; never its payload
