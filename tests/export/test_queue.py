"""The export queue against real OTLP receivers: outages, slow and rejecting backends, the bound."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence

import grpc
import grpc.aio
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult
from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter
from tracewatch.export.queue import ExportQueue, QueueOptions

from ..receivers import GrpcReceiver, HttpReceiver, _TraceService
from .builders import ScriptedExporter, span

FAST = QueueOptions(backoff_initial_s=0.02, backoff_max_s=0.1)


def spans(n: int, *, first: int = 1) -> list[SpanRecord]:
    """n distinct root spans (span ids first..first+n-1) in one trace."""
    return [span("k8s.CreatePod", span_id=i) for i in range(first, first + n)]


def ids(received: Sequence[object]) -> list[int]:
    return [int(s.span_id, 16) for s in received]  # type: ignore[attr-defined]


async def until(predicate: Callable[[], bool], *, timeout: float = 5) -> None:
    """Wait (polling) until predicate() holds; TimeoutError otherwise."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PortGrpcReceiver(GrpcReceiver):
    """A GrpcReceiver on a port chosen beforehand, so it can be down first and come up later."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def start(self) -> str:
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server
        self.endpoint = f"127.0.0.1:{self.port}"
        return self.endpoint


class PortHttpReceiver(HttpReceiver):
    """An HttpReceiver on a port chosen beforehand."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/traces", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._runner = runner
        self.endpoint = f"http://127.0.0.1:{self.port}"
        return self.endpoint


class RecordingSleep:
    """A sleep that records the delays asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


async def test_grpc_outage_shorter_than_the_queue_loses_nothing() -> None:
    """Spans queued while the gRPC backend is down all arrive, in order, once it is up."""
    port = free_port()
    exporter = OtlpGrpcExporter(endpoint=f"127.0.0.1:{port}", timeout_s=1)
    queue = ExportQueue(exporter=exporter, options=FAST)
    queue.start()
    receiver = PortGrpcReceiver(port)
    try:
        for i in range(5):
            queue.put(spans(20, first=1 + 20 * i))
            await asyncio.sleep(0.05)
        assert queue.stats.failed_attempts["retryable"] >= 2
        assert queue.depth == 100
        await receiver.start()
        got = await receiver.wait_for(lambda s: len(s) >= 100, timeout=10)
        assert ids(got) == list(range(1, 101))
        await until(lambda: queue.stats.exported == 100)
        assert sum(queue.stats.dropped.values()) == 0
    finally:
        await queue.flush(timeout_s=1)
        await exporter.shutdown()
        await receiver.stop()


async def test_http_backend_coming_back_resumes_without_restart() -> None:
    """Over HTTP: refused connections are retried until the receiver comes back, then delivered."""
    port = free_port()
    exporter = OtlpHttpExporter(endpoint=f"http://127.0.0.1:{port}", timeout_s=1)
    queue = ExportQueue(exporter=exporter, options=FAST)
    queue.start()
    receiver = PortHttpReceiver(port)
    try:
        queue.put(spans(30))
        async with asyncio.timeout(5):
            while queue.stats.failed_attempts["retryable"] < 3:
                await asyncio.sleep(0.01)
        assert queue.backing_off
        await receiver.start()
        got = await receiver.wait_for(lambda s: len(s) >= 30, timeout=5)
        assert ids(got) == list(range(1, 31))
        await until(lambda: not queue.backing_off)
    finally:
        await queue.flush(timeout_s=1)
        await exporter.shutdown()
        await receiver.stop()


async def test_slow_receiver_gets_bigger_batches_and_everything() -> None:
    """While a slow backend answers, new spans pile up and leave in few, larger requests."""
    async with GrpcReceiver() as receiver:
        receiver.answer_after(0.2)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=2)
        queue = ExportQueue(exporter=exporter, options=FAST)
        queue.start()
        for i in range(10):
            queue.put(spans(10, first=1 + 10 * i))
            await asyncio.sleep(0.02)
        got = await receiver.wait_for(lambda s: len(s) >= 100, timeout=10)
        assert sorted(ids(got)) == list(range(1, 101))
        assert receiver.attempts <= 4  # 10 puts, ~0.2 s of them per answer
        assert queue.stats.failed_attempts == {"retryable": 0, "permanent": 0}
        await queue.flush(timeout_s=1)
        await exporter.shutdown()


async def test_receiver_slower_than_the_timeout_is_retried_until_it_answers() -> None:
    """A deadline exceeded is retryable: once the backend speeds up the batch is delivered."""
    async with GrpcReceiver() as receiver:
        receiver.answer_after(0.5)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=0.1)
        queue = ExportQueue(exporter=exporter, options=FAST)
        queue.start()
        queue.put(spans(5))
        async with asyncio.timeout(5):
            while queue.stats.failed_attempts["retryable"] < 2:
                await asyncio.sleep(0.01)
        receiver.answer_after(0)
        async with asyncio.timeout(5):
            while queue.stats.exported < 5:
                await asyncio.sleep(0.01)
        # At least once: the slow answers may have landed too (the backend saw them late).
        assert set(ids(receiver.spans())) == set(range(1, 6))
        await queue.flush(timeout_s=1)
        await exporter.shutdown()


@pytest.mark.parametrize(
    ("code", "retried"),
    [(grpc.StatusCode.UNAVAILABLE, True), (grpc.StatusCode.INVALID_ARGUMENT, False)],
)
async def test_grpc_retryable_rejection_is_retried_permanent_one_is_dropped(
    code: grpc.StatusCode, retried: bool
) -> None:
    """UNAVAILABLE is retried until accepted; INVALID_ARGUMENT drops the batch, counted."""
    async with GrpcReceiver() as receiver:
        receiver.fail_next(code, times=2)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=1)
        queue = ExportQueue(exporter=exporter, options=FAST)
        queue.start()
        queue.put(spans(4))
        if retried:
            got = await receiver.wait_for(lambda s: len(s) >= 4)
            assert ids(got) == [1, 2, 3, 4]
            assert receiver.attempts == 3
            assert queue.stats.failed_attempts["retryable"] == 2
            assert queue.stats.dropped["rejected"] == 0
        else:
            async with asyncio.timeout(5):
                while queue.stats.dropped["rejected"] < 4:
                    await asyncio.sleep(0.01)
            assert receiver.attempts == 1
            queue.put(spans(3, first=10))  # the next batch meets the second injected failure
            await until(lambda: queue.stats.failed_attempts["permanent"] == 2)
            assert queue.stats.dropped["rejected"] == 7
            assert receiver.attempts == 2
        await queue.flush(timeout_s=1)
        await exporter.shutdown()


@pytest.mark.parametrize(("status", "retried"), [(503, True), (429, True), (400, False)])
async def test_http_retryable_vs_permanent_statuses(status: int, retried: bool) -> None:
    """Over HTTP: 503/429 retried until accepted, 400 dropped and counted."""
    async with HttpReceiver() as receiver:
        receiver.fail_next(status, times=1)
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint, timeout_s=1)
        queue = ExportQueue(exporter=exporter, options=FAST)
        queue.start()
        queue.put(spans(3))
        async with asyncio.timeout(5):
            while queue.depth:
                await asyncio.sleep(0.01)
        assert queue.stats.exported == (3 if retried else 0)
        assert queue.stats.dropped["rejected"] == (0 if retried else 3)
        assert receiver.attempts == (2 if retried else 1)
        await queue.flush(timeout_s=1)
        await exporter.shutdown()


async def test_server_retry_hint_is_honoured_over_backoff() -> None:
    """The delay before a retry is the gRPC RetryInfo the server sent, not our own backoff."""
    async with GrpcReceiver() as receiver:
        receiver.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, times=1, retry_delay_s=7.5)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=1)
        sleep = RecordingSleep()
        queue = ExportQueue(exporter=exporter, options=QueueOptions(sleep=sleep))
        queue.start()
        queue.put(spans(2))
        await receiver.wait_for(lambda s: len(s) >= 2)
        assert sleep.delays == [7.5]
        await queue.flush(timeout_s=1)
        await exporter.shutdown()


async def test_backoff_grows_exponentially_to_the_cap_and_resets() -> None:
    """Without a hint, waits double from the initial delay up to the cap; success resets them."""
    retry = ExportResult.RETRYABLE_FAILURE
    exporter = ScriptedExporter(retry, retry, retry, retry, retry)
    sleep = RecordingSleep()
    options = QueueOptions(backoff_initial_s=1, backoff_max_s=5, sleep=sleep, random=lambda: 1.0)
    queue = ExportQueue(exporter=exporter, options=options)
    queue.start()
    queue.put(spans(1))
    async with asyncio.timeout(5):
        while queue.stats.exported < 1:
            await asyncio.sleep(0)
    assert sleep.delays == [1, 2, 4, 5, 5]
    exporter.script = [retry]
    queue.put(spans(1, first=2))
    async with asyncio.timeout(5):
        while queue.stats.exported < 2:
            await asyncio.sleep(0)
    assert sleep.delays[-1] == 1
    await queue.flush(timeout_s=1)


async def test_server_hint_is_capped() -> None:
    """A retry hint beyond max_retry_after_s is cut to it."""
    exporter = ScriptedExporter(ExportResult.RETRYABLE_FAILURE, retry_after_s=86_400)
    sleep = RecordingSleep()
    queue = ExportQueue(exporter=exporter,
                        options=QueueOptions(sleep=sleep, max_retry_after_s=60))
    queue.start()
    queue.put(spans(1))
    async with asyncio.timeout(5):
        while queue.stats.exported < 1:
            await asyncio.sleep(0)
    assert sleep.delays == [60]
    await queue.flush(timeout_s=1)


async def test_bound_holds_oldest_dropped_first_and_counted() -> None:
    """With the backend down, the queue keeps only the newest max_spans spans, counting the rest."""
    port = free_port()
    exporter = OtlpHttpExporter(endpoint=f"http://127.0.0.1:{port}", timeout_s=1)
    queue = ExportQueue(exporter=exporter, options=QueueOptions(
        max_spans=50, batch_spans=10, backoff_initial_s=0.01, backoff_max_s=0.02))
    queue.start()
    for i in range(20):
        queue.put(spans(10, first=1 + 10 * i))
        assert queue.depth <= 50
        await asyncio.sleep(0.005)
    assert queue.depth == 50
    assert queue.stats.dropped["overflow"] == 150
    assert queue.stats.enqueued == 200
    await queue.flush(timeout_s=0.2)
    await exporter.shutdown()
    # Now the survivors go to a receiver that is up: the newest fifty.
    async with HttpReceiver() as receiver:
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint, timeout_s=1)
        queue = ExportQueue(exporter=exporter, options=QueueOptions(max_spans=50, batch_spans=10))
        queue.put([s for i in range(20) for s in spans(10, first=1 + 10 * i)])
        assert await queue.flush(timeout_s=5)
        assert ids(receiver.spans()) == list(range(151, 201))
        await exporter.shutdown()


async def test_flush_sends_everything_when_the_backend_is_up() -> None:
    """flush delivers what is queued, returns True and stops the sending task."""
    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=1)
        queue = ExportQueue(exporter=exporter, options=QueueOptions(batch_spans=7))
        queue.put(spans(30))
        assert await queue.flush(timeout_s=5)
        assert ids(receiver.spans()) == list(range(1, 31))
        queue.put(spans(1, first=99))  # after the flush nothing sends any more
        await asyncio.sleep(0.05)
        assert len(receiver.spans()) == 30
        await exporter.shutdown()


async def test_flush_gives_up_at_the_deadline_and_counts_the_rest() -> None:
    """With the backend down, flush returns False within its deadline; leftovers are counted."""
    exporter = OtlpHttpExporter(endpoint=f"http://127.0.0.1:{free_port()}", timeout_s=1)
    queue = ExportQueue(exporter=exporter,
                        options=QueueOptions(backoff_initial_s=30, backoff_max_s=30))
    queue.start()
    queue.put(spans(12))
    async with asyncio.timeout(5):
        while not queue.backing_off:
            await asyncio.sleep(0.01)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert not await queue.flush(timeout_s=0.3)
    assert loop.time() - began < 1.0  # the 30 s backoff was cut short by the flush
    assert queue.stats.dropped["shutdown"] == 12
    assert queue.depth == 0
    await exporter.shutdown()


async def test_exporter_that_raises_does_not_stop_the_queue() -> None:
    """A bug in an exporter costs its batch (counted as rejected), not the export task."""

    class Flaky(ScriptedExporter):
        async def export(self, batch: Sequence[SpanRecord]) -> ExportResult:
            if not self.batches:
                self.batches.append(list(batch))
                raise RuntimeError("bug")
            return await super().export(batch)

    exporter = Flaky()
    queue = ExportQueue(exporter=exporter)
    queue.put(spans(2))
    queue.start()
    async with asyncio.timeout(5):
        while queue.stats.dropped["rejected"] < 2:
            await asyncio.sleep(0)
    queue.put(spans(3, first=5))
    assert await queue.flush(timeout_s=1)
    assert queue.stats.exported == 3


async def test_export_observer_sees_every_attempt() -> None:
    """The on_export hook gets (result, batch size, seconds) for each call, failures included."""
    seen: list[tuple[ExportResult, int, float]] = []
    exporter = ScriptedExporter(ExportResult.RETRYABLE_FAILURE)
    queue = ExportQueue(exporter=exporter, options=QueueOptions(sleep=RecordingSleep()),
                        on_export=lambda r, n, s: seen.append((r, n, s)))
    queue.put(spans(3))
    assert await queue.flush(timeout_s=1)
    assert [(r, n) for r, n, _ in seen] == [
        (ExportResult.RETRYABLE_FAILURE, 3), (ExportResult.SUCCESS, 3)]
    assert all(seconds >= 0 for _, _, seconds in seen)


def test_options_reject_an_empty_bound() -> None:
    """A queue that can hold nothing is a configuration error."""
    with pytest.raises(ValueError):
        QueueOptions(max_spans=0)
