"""Logging: JSON lines off a terminal, readable on one, and no token or header value ever logged."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import structlog

from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer, InformerOptions
from tracewatch.ops import logs
from tracewatch.sim import SimCluster

from ..export.builders import pod_startup
from ..receivers import GrpcReceiver, HttpReceiver

SECRET = "s3cr3t-9f2c1e7a-token-value"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """Logging configured as `tracewatch run` does, into a buffer (not a terminal)."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure(level="debug", fmt="auto", stream=stream)
    try:
        yield stream
    finally:
        structlog.reset_defaults()
        root.handlers[:], level = saved
        root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    """Every line parsed as JSON (fails the test on a line that is not)."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_off_a_terminal_including_library_records(output: io.StringIO) -> None:
    """Both our events and stdlib library records come out as one JSON object per line."""
    structlog.get_logger("tracewatch.test").warning("ours", resource="pods")
    logging.getLogger("aiohttp.client").warning("theirs %s", "formatted")
    records = lines(output)
    assert [r["event"] for r in records] == ["ours", "theirs formatted"]
    assert records[0]["level"] == "warning" and "timestamp" in records[0]
    assert records[1]["logger"] == "aiohttp.client"


def test_readable_lines_on_a_terminal() -> None:
    """On a terminal the renderer is the human one: not JSON, event and key=value visible."""
    stream = Terminal()
    logs.configure(level="info", fmt="auto", stream=stream)
    try:
        structlog.get_logger("t").info("kube.synced", objects=3)
    finally:
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "kube.synced" in text and "objects" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_keys_that_name_secrets_are_redacted(output: io.StringIO) -> None:
    """A value logged under a key such as token or authorization never reaches the output."""
    structlog.get_logger("t").info("oops", token=SECRET, headers={"authorization": SECRET},
                                   bearer_token=SECRET)
    assert SECRET not in output.getvalue()
    assert lines(output)[0]["token"] == "[redacted]"


async def test_failing_otlp_exports_never_log_header_values(output: io.StringIO) -> None:
    """gRPC and HTTP exports with an authorization header fail (refused, 401, 16) silently."""
    headers = {"authorization": f"Bearer {SECRET}", "x-api-key": SECRET}
    async with GrpcReceiver() as grpc_receiver, HttpReceiver() as http_receiver:
        grpc_receiver.fail_next(grpc.StatusCode.UNAUTHENTICATED, message="bad credentials")
        http_receiver.fail_next(401, message="bad credentials")
        for exporter in (
            OtlpGrpcExporter(endpoint=grpc_receiver.endpoint, headers=headers, timeout_s=2),
            OtlpHttpExporter(endpoint=http_receiver.endpoint, headers=headers, timeout_s=2),
            OtlpGrpcExporter(endpoint="127.0.0.1:1", headers=headers, timeout_s=1),
            OtlpHttpExporter(endpoint="http://127.0.0.1:1", headers=headers, timeout_s=1),
        ):
            await exporter.export(pod_startup())
            await exporter.shutdown()
        assert grpc_receiver.headers[0]["authorization"] == f"Bearer {SECRET}"  # it was sent
    records = lines(output)
    assert sum(r["event"] == "otlp export failed" for r in records) == 4
    assert SECRET not in output.getvalue()


async def test_refused_and_unreachable_kube_connections_never_log_the_token(
    output: io.StringIO, tmp_path: Path
) -> None:
    """A kubeconfig token the server refuses (401), or a server that is gone, is never logged."""
    async with SimCluster() as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", token=SECRET)
        connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
        async with connection:
            informer = Informer(connection=connection, resource="pods", sink=lambda o: None,
                                options=InformerOptions(sleep=lambda s: asyncio.sleep(0.01)))
            task = asyncio.create_task(informer.run())
            async with asyncio.timeout(5):
                while informer.stats.restarts["unauthorized"] < 2:
                    await asyncio.sleep(0.01)
            await sim.stop()  # now the server is gone: connection errors
            async with asyncio.timeout(5):
                while informer.stats.restarts["connection"] < 2:
                    await asyncio.sleep(0.01)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    records = lines(output)
    events = [r["event"] for r in records]
    assert "kube.permission_denied" in events and "kube.request_failed" in events
    assert SECRET not in output.getvalue()
    refused = [r["detail"] for r in records if r.get("reason") == "connection"]
    # Says where and why, without aiohttp's repr of our SSL context.
    assert refused and all("cannot connect to 127.0.0.1:" in d for d in refused)
    assert not any(" object at 0x" in d for d in refused)
