"""The export queue: finished spans wait here for the exporter, bounded, retried, flushed.

Memory is bounded in spans: beyond `max_spans` the oldest are dropped first
and counted, so a backend outage costs the oldest data, never the daemon. One
task sends batches, never two at once (the exporter contract). A retryable
failure puts the batch back at the front and waits: the exporter's own hint
(`retry_after_s`: gRPC RetryInfo, HTTP Retry-After) when it gave one, else a
jittered exponential backoff, capped; the queue keeps retrying for as long
as the backend is away, so export resumes by itself when it comes back and an
outage shorter than the queue loses nothing. A non-retryable failure drops
the batch (counted). `flush` sends what is left within a deadline and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult, SpanExporter

__all__ = ["ExportObserver", "ExportQueue", "QueueOptions", "QueueStats"]

log = structlog.get_logger(__name__)

ExportObserver = Callable[[ExportResult, int, float], None]
"""Called after every export attempt with (result, spans in the batch, seconds it took)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueOptions:
    """Bounds and pacing; injected sleep/clock/randomness default to the real ones."""

    max_spans: int = 200_000
    """About 100 MB at worst (a span record with its attributes is ~300-500 bytes); at
    300 pod startups/s of ~6 spans each that is ~2 minutes of backend outage."""
    batch_spans: int = 1024
    """Spans per export request: ~0.5 MB of OTLP protobuf, under gRPC's 4 MB default."""
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retry_after_s: float = 300.0
    """Upper bound on a server's retry hint, so a bogus hint cannot stall export for hours."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.max_spans < 1 or self.batch_spans < 1:
            raise ValueError("the export queue needs max_spans >= 1 and batch_spans >= 1")


@dataclass(slots=True)
class QueueStats:
    """Counters the ops layer exports (spans unless named otherwise)."""

    enqueued: int = 0
    exported: int = 0
    dropped: dict[str, int] = field(
        default_factory=lambda: {"overflow": 0, "rejected": 0, "shutdown": 0}
    )
    """Spans lost, by reason: overflow (queue full, oldest dropped), rejected (the backend
    refused them for good), shutdown (left over when the flush deadline passed)."""
    failed_attempts: dict[str, int] = field(
        default_factory=lambda: {"retryable": 0, "permanent": 0}
    )
    """Export calls that failed, by class."""


class ExportQueue:
    """A bounded FIFO of spans in front of one exporter, drained by one task.

    `put` never blocks and never raises. `start` launches the sending task;
    `flush(timeout_s=...)` stops it after sending what it can within the
    deadline. `exporter.shutdown` is the caller's business.
    """

    def __init__(
        self,
        *,
        exporter: SpanExporter,
        options: QueueOptions | None = None,
        on_export: ExportObserver | None = None,
    ) -> None:
        self.exporter = exporter
        self.options = options or QueueOptions()
        self.stats = QueueStats()
        self._on_export = on_export
        self._items: deque[SpanRecord] = deque()
        self._in_flight = 0
        self._ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._closing = False
        self._deadline = float("inf")
        self._task: asyncio.Task[None] | None = None
        self._attempt = 0

    def __len__(self) -> int:
        """Spans waiting, not counting a batch being sent."""
        return len(self._items)

    @property
    def depth(self) -> int:
        """Spans not yet exported: waiting plus in flight."""
        return len(self._items) + self._in_flight

    @property
    def backing_off(self) -> bool:
        """True while the last attempt failed and the next one waits."""
        return self._attempt > 0

    def put(self, spans: Sequence[SpanRecord]) -> None:
        """Queue spans for export; beyond the bound the oldest are dropped and counted."""
        if not spans:
            return
        self._items.extend(spans)
        self.stats.enqueued += len(spans)
        self._trim()
        self._ready.set()

    def discard(self, spans: Sequence[SpanRecord], *, reason: str) -> None:
        """Count spans that will not be queued at all (e.g. reason="standby" off the leader)."""
        if spans:
            self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + len(spans)

    def start(self) -> None:
        """Start the sending task (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="export-queue")

    async def flush(self, *, timeout_s: float) -> bool:
        """Send what is queued within `timeout_s`, then stop; True when nothing was left.

        Retries continue during the flush but never wait past the deadline; what is
        left when it passes (including a batch still in flight) is counted as dropped
        for shutdown.
        """
        self._closing = True
        self._deadline = self.options.monotonic() + max(timeout_s, 0.0)
        self._wake.set()
        self._ready.set()
        self.start()
        task = self._task
        assert task is not None
        try:
            await asyncio.wait_for(asyncio.shield(task), max(timeout_s, 0.0))
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        left = self.depth
        if left:
            self.stats.dropped["shutdown"] += left
            log.warning("export.flush_incomplete", spans_left=left, timeout_s=timeout_s)
            self._items.clear()
            self._in_flight = 0
        return left == 0

    async def _run(self) -> None:
        while True:
            if not self._items:
                if self._closing:
                    return
                self._ready.clear()
                await self._ready.wait()
                continue
            if self._closing and self.options.monotonic() >= self._deadline:
                return
            batch = [self._items.popleft() for _ in range(min(self.options.batch_spans,
                                                               len(self._items)))]
            self._in_flight = len(batch)
            result = await self._send(batch)
            self._in_flight = 0
            if result is ExportResult.SUCCESS:
                self.stats.exported += len(batch)
                if self._attempt:
                    log.info("export.resumed", after_attempts=self._attempt)
                self._attempt = 0
            elif result is ExportResult.RETRYABLE_FAILURE:
                self.stats.failed_attempts["retryable"] += 1
                self._put_back(batch)
                delay = self._retry_delay()
                self._attempt += 1
                await self._pause(delay)
            else:
                self.stats.failed_attempts["permanent"] += 1
                self.stats.dropped["rejected"] += len(batch)
                self._attempt = 0
                log.error("export.batch_rejected", spans=len(batch))

    async def _send(self, batch: list[SpanRecord]) -> ExportResult:
        started = self.options.monotonic()
        try:
            result = await self.exporter.export(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Exporters return results; one that raises has a bug, and retrying cannot help.
            log.exception("export.exporter_raised", spans=len(batch))
            result = ExportResult.FAILURE
        if self._on_export is not None:
            self._on_export(result, len(batch), self.options.monotonic() - started)
        return result

    def _retry_delay(self) -> float:
        hint = getattr(self.exporter, "retry_after_s", None)
        if isinstance(hint, int | float) and hint >= 0:
            return min(float(hint), self.options.max_retry_after_s)
        opts = self.options
        ceiling = min(opts.backoff_max_s, opts.backoff_initial_s * 2 ** min(self._attempt, 30))
        # Full jitter over the upper half: replicas that failed together retry apart.
        return ceiling * (0.5 + 0.5 * opts.random())

    async def _pause(self, delay: float) -> None:
        until = self.options.monotonic() + delay
        if not self._closing and delay > 0:
            # A flush starting during a long backoff cuts the wait short.
            self._wake.clear()
            sleeping = asyncio.ensure_future(self.options.sleep(delay))
            waking = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait((sleeping, waking), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (sleeping, waking):
                    task.cancel()
                await asyncio.gather(sleeping, waking, return_exceptions=True)
        if self._closing:
            # Flushing: keep backing off, but never past the deadline.
            remaining = min(until, self._deadline) - self.options.monotonic()
            if remaining > 0:
                await self.options.sleep(remaining)

    def _put_back(self, batch: list[SpanRecord]) -> None:
        self._items.extendleft(reversed(batch))
        self._trim()

    def _trim(self) -> None:
        overflow = len(self._items) - self.options.max_spans
        if overflow > 0:
            for _ in range(overflow):
                self._items.popleft()
            self.stats.dropped["overflow"] += overflow
