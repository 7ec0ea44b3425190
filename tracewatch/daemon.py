"""The daemon: informers -> engine -> export queue -> exporter, and a shutdown that flushes.

One task per informer puts observations on a bounded queue (a full queue
slows the watch streams down rather than dropping what they saw); one task
feeds the engine, which is the only owner of lifecycle state; a ticker lets
engine time pass between observations; one task drives the exporter from a
bounded span queue (`SpanQueue`). `Pipeline.run` returns after `stop` is set
and what was finished has been flushed within the flush deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from tracewatch.config import Settings
from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Observation
from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult, SpanExporter
from tracewatch.export.factory import create_exporter
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer

log = structlog.get_logger(__name__)

WATCHED_RESOURCES = ("pods", "events")
SECOND_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PipelineOptions:
    """Tuning and injected effects; defaults are for production."""

    clock_ns: Callable[[], int] = time.time_ns
    tick_s: float = 0.2
    """How often engine time advances without observations (bounds emission lag)."""
    observation_queue: int = 10_000
    """Observations buffered between the watches and the engine."""
    span_queue: int = 200_000
    """Spans buffered for export; beyond it the oldest are dropped (and counted)."""
    export_batch: int = 1024
    retry_delays_s: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
    """Waits between attempts at a batch the backend may accept later (last one repeats)."""
    flush_deadline_s: float = 10.0


class SpanQueue:
    """Finished spans waiting for export: bounded, oldest dropped first, drops counted."""

    def __init__(self, *, limit: int) -> None:
        self._items: deque[SpanRecord] = deque()
        self._limit = limit
        self._ready = asyncio.Event()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def extend(self, spans: Sequence[SpanRecord]) -> None:
        self._items.extend(spans)
        overflow = len(self._items) - self._limit
        for _ in range(max(overflow, 0)):
            self._items.popleft()
        self.dropped += max(overflow, 0)
        if self._items:
            self._ready.set()

    def take(self, n: int) -> list[SpanRecord]:
        batch = [self._items.popleft() for _ in range(min(n, len(self._items)))]
        if not self._items:
            self._ready.clear()
        return batch

    def put_back(self, batch: list[SpanRecord]) -> None:
        """Return an unexported batch to the front, keeping order; the bound still holds."""
        room = self._limit - len(self._items)
        keep = batch[len(batch) - max(room, 0) :] if room < len(batch) else batch
        self.dropped += len(batch) - len(keep)
        self._items.extendleft(reversed(keep))
        if self._items:
            self._ready.set()

    async def wait(self) -> None:
        await self._ready.wait()


class Pipeline:
    """Informers for the watched resources feeding one engine and one exporter."""

    def __init__(
        self,
        *,
        settings: Settings,
        connection: ApiConnection,
        exporter: SpanExporter,
        options: PipelineOptions | None = None,
    ) -> None:
        self.options = options or PipelineOptions()
        self.engine = Engine(
            options=EngineOptions(
                settle_delay_ns=int(settings.settle_delay * SECOND_NS),
                lifecycle_timeout_ns=int(settings.lifecycle_timeout * SECOND_NS),
                backfill_ns=int(settings.backfill * SECOND_NS),
            )
        )
        self.exporter = exporter
        self.observations: asyncio.Queue[Observation] = asyncio.Queue(
            maxsize=self.options.observation_queue
        )
        self.spans = SpanQueue(limit=self.options.span_queue)
        namespaces: Sequence[str | None] = settings.namespace or (None,)
        self.informers = [
            Informer(connection=connection, resource=resource, namespace=ns,
                     sink=self.observations.put)
            for resource in WATCHED_RESOURCES
            for ns in namespaces
        ]
        self.traces_emitted = 0
        self.spans_exported = 0
        self.spans_failed = 0
        self._emitted = asyncio.Condition()

    @property
    def ready(self) -> bool:
        """Every informer has listed once and none is failing authorization."""
        return all(i.has_synced and not i.auth_failing for i in self.informers)

    async def wait_for_traces(self, count: int) -> None:
        """Return once at least `count` traces have been emitted by the engine."""
        async with self._emitted:
            await self._emitted.wait_for(lambda: self.traces_emitted >= count)

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set, then stop watching and flush within the deadline."""
        watchers = [asyncio.create_task(i.run(), name=f"informer-{i.resource.name}")
                    for i in self.informers]
        workers = [
            asyncio.create_task(self._consume(), name="engine"),
            asyncio.create_task(self._tick(), name="ticker"),
        ]
        exporting = asyncio.create_task(self._export_loop(), name="exporter")
        try:
            await stop.wait()
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            # What was received is folded in; lifecycles that ended are emitted without settling.
            while not self.observations.empty():
                await self._publish(self.engine.observe(self.observations.get_nowait()))
            await self._publish(self.engine.drain())
            exporting.cancel()
            await asyncio.gather(exporting, return_exceptions=True)
            await self._flush()
            await self.exporter.shutdown()
            log.info("pipeline.stopped", traces=self.traces_emitted,
                     spans_exported=self.spans_exported, spans_dropped=self.spans.dropped,
                     in_progress=self.engine.tracked)

    async def _consume(self) -> None:
        while True:
            observation = await self.observations.get()
            await self._publish(self.engine.observe(observation))

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.options.tick_s)
            await self._publish(self.engine.advance(self.options.clock_ns()))

    async def _publish(self, spans: list[SpanRecord]) -> None:
        if not spans:
            return
        self.spans.extend(spans)
        roots = sum(1 for s in spans if s.is_root)
        if roots:
            async with self._emitted:
                self.traces_emitted += roots
                self._emitted.notify_all()

    async def _export_loop(self) -> None:
        attempt = 0
        while True:
            await self.spans.wait()
            batch = self.spans.take(self.options.export_batch)
            result = await self.exporter.export(batch)
            if result is ExportResult.SUCCESS:
                self.spans_exported += len(batch)
                attempt = 0
            elif result is ExportResult.RETRYABLE_FAILURE:
                self.spans.put_back(batch)
                delays = self.options.retry_delays_s
                await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
                attempt += 1
            else:
                self.spans_failed += len(batch)
                log.error("export.batch_rejected", spans=len(batch))

    async def _flush(self) -> None:
        deadline = time.monotonic() + self.options.flush_deadline_s
        while len(self.spans) and time.monotonic() < deadline:
            batch = self.spans.take(self.options.export_batch)
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                result = await asyncio.wait_for(self.exporter.export(batch), remaining)
            except TimeoutError:
                result = ExportResult.RETRYABLE_FAILURE
            if result is ExportResult.SUCCESS:
                self.spans_exported += len(batch)
            elif result is ExportResult.RETRYABLE_FAILURE:
                self.spans.put_back(batch)
                await asyncio.sleep(min(0.5, max(deadline - time.monotonic(), 0)))
            else:
                self.spans_failed += len(batch)
        if len(self.spans):
            log.warning("pipeline.flush_incomplete", spans_left=len(self.spans))


def exporter_from_settings(settings: Settings) -> SpanExporter:
    """The exporter the settings name; ValueError/OSError with a one-line reason."""
    endpoint = settings.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    resource: tuple[tuple[str, str], ...] = ()
    if settings.cluster_name:
        resource = (("k8s.cluster.name", settings.cluster_name),)
    output = settings.output
    stream = None
    if settings.exporter == "jsonl" and output == "-":
        output, stream = None, sys.stdout
    return create_exporter(
        kind=settings.exporter,
        otlp_endpoint=endpoint,
        otlp_protocol=settings.otlp_protocol,
        output=output,
        stream=stream,
        resource_attributes=resource,
        headers=dict(settings.otlp_headers),
        timeout_s=settings.otlp_timeout,
    )


async def connect(settings: Settings) -> ApiConnection:
    """Connect as configured: kubeconfig when one is named or found, else in-cluster."""
    kubeconfig = settings.kubeconfig or os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    if kubeconfig is None and not default.exists() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return await ApiConnection.from_incluster()
    return await ApiConnection.from_kubeconfig(config_file=kubeconfig, context=settings.context)


async def run_daemon(*, settings: Settings) -> int:
    """`tracewatch run`: watch until SIGTERM/SIGINT, then flush and exit 0."""
    try:
        exporter = exporter_from_settings(settings)
    except (ValueError, OSError) as exc:
        print(f"tracewatch run: error: {exc}", file=sys.stderr)
        return 2
    try:
        connection = await connect(settings)
    except Exception as exc:  # kubernetes_asyncio raises ConfigException and plain errors alike
        print(f"tracewatch run: error: cannot load Kubernetes configuration: {exc}",
              file=sys.stderr)
        await exporter.shutdown()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    log.info("tracewatch.starting", server=connection.base_url, exporter=settings.exporter,
             namespaces=list(settings.namespace) or "all")
    async with connection:
        await Pipeline(settings=settings, connection=connection, exporter=exporter).run(stop)
    return 0
