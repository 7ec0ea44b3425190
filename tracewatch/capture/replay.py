"""`tracewatch replay`: feed a capture through the core with its recorded receipt times.

The engine never reads a clock: each observation carries the time it was
received when recorded, so a replay builds the same lifecycles, with the same
times and ids, as the live run did. Emitted spans go through the daemon's
sampling and export queue to the configured exporter. Batches are formed at
fixed points of the input (whenever a batch's worth is waiting, and at the
end), never by timing, so replaying a capture twice writes byte-identical
jsonl.

A bad line gets one message naming its line number, is skipped and counted;
objects of kinds tracewatch does not watch are skipped and counted too.

Export waits for the exporter (a replay is as fast as the backend takes it)
while it works. When it has failed for the flush timeout, the replay says so
once and stops waiting: the queue keeps retrying in the background, holding up
to its bound (beyond it the oldest spans are dropped), and waits again as soon
as it sends. Spans not exported in the end are counted and make the exit code 1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from tracewatch.capture.lines import CaptureLineError, parse_capture_line
from tracewatch.config import Settings
from tracewatch.core.spans import SpanRecord
from tracewatch.daemon import engine_for, exporter_from_settings, sampling_for
from tracewatch.export.base import SpanExporter
from tracewatch.export.queue import ExportQueue, QueueOptions
from tracewatch.export.sampling import sample

__all__ = ["ReplaySummary", "replay_capture", "run_replay"]

_PROGRESS_MIN_BYTES = 1 << 20
_PROGRESS_EVERY_S = 0.2
_DRAIN_POLL_S = 0.002


@dataclass(slots=True)
class ReplaySummary:
    lines: int = 0
    observations: int = 0
    bad_lines: int = 0
    failed: int = 0
    """Observations the engine raised on (a fault of ours, not the capture's): skipped."""
    skipped_kinds: Counter[str] = field(default_factory=Counter)
    spans: int = 0
    traces: int = 0
    sampled_out: int = 0
    lost: int = 0
    """Spans sampled in but not exported: the queue overflowed, the backend refused them, or
    the final flush ran out of time."""

    def describe(self) -> str:
        text = (
            f"{self.lines} line(s), {self.observations} observation(s), "
            f"{self.traces} trace(s), {self.spans} span(s) exported"
        )
        if self.lost:
            text += f", {self.lost} span(s) NOT exported (see the exporter's messages)"
        if self.sampled_out:
            text += f", {self.sampled_out} sampled out"
        if self.bad_lines:
            text += f", {self.bad_lines} bad line(s) skipped"
        if self.failed:
            text += f", {self.failed} line(s) the engine failed on skipped"
        if self.skipped_kinds:
            kinds = ", ".join(f"{k} x{n}" for k, n in sorted(self.skipped_kinds.items()))
            text += f", unwatched kinds skipped ({kinds})"
        return text


class _Progress:
    """A one-line progress bar on stderr, redrawn at most every 0.2 s."""

    def __init__(self, *, total: int, stream: TextIO) -> None:
        self._total = max(total, 1)
        self._stream = stream
        self._drawn_at = 0.0

    def update(self, done: int, lines: int) -> None:
        now = time.monotonic()
        if now - self._drawn_at < _PROGRESS_EVERY_S:
            return
        self._drawn_at = now
        share = min(done / self._total, 1.0)
        bar = "#" * int(share * 30)
        self._stream.write(f"\rreplay [{bar:<30}] {share:6.1%} {lines:,} lines")
        self._stream.flush()

    def close(self) -> None:
        self._stream.write("\r" + " " * 60 + "\r")
        self._stream.flush()


async def replay_capture(
    *,
    path: str | os.PathLike[str],
    settings: Settings,
    exporter: SpanExporter,
    warn: Callable[[str], None],
    progress: TextIO | None = None,
) -> ReplaySummary:
    """Replay the capture at `path` into `exporter` (shut down by the caller).

    Raises OSError when the file cannot be opened or read.
    """
    engine = engine_for(settings)
    policy = sampling_for(settings)
    queue_options = QueueOptions(max_spans=settings.export_queue_size)
    queue = ExportQueue(exporter=exporter, options=queue_options)
    summary = ReplaySummary()
    name = os.fspath(path)
    waiting = True  # for the exporter; False once it failed for the whole patience

    async def publish(spans: list[SpanRecord]) -> None:
        nonlocal waiting
        if not spans:
            return
        sampled = sample(spans, policy=policy)
        summary.sampled_out += sampled.dropped_spans
        summary.traces += sum(1 for s in sampled.kept if s.is_root)
        queue.put(sampled.kept)
        if len(queue) < queue_options.batch_spans:
            return
        if not waiting and queue.backing_off:
            # Still failing: waiting out the patience again on every batch would make a large
            # capture against a backend that is down take hours.
            return
        waiting = await _drain(queue, patience_s=settings.flush_timeout)
        if not waiting:
            warn(f"{name}: the exporter has failed for {settings.flush_timeout:g}s; going on "
                 f"without waiting for it (the queue keeps retrying and holds up to "
                 f"{queue_options.max_spans} spans, dropping the oldest beyond that)")

    with open(path, "rb") as capture:
        bar = None
        if progress is not None:
            size = os.fstat(capture.fileno()).st_size
            if size >= _PROGRESS_MIN_BYTES:
                bar = _Progress(total=size, stream=progress)
        done = 0
        last_ns = 0
        for number, line in enumerate(capture, start=1):
            summary.lines = number
            done += len(line)
            if bar is not None:
                bar.update(done, number)
            if not line.strip():
                continue
            try:
                parsed = parse_capture_line(line)
            except CaptureLineError as exc:
                summary.bad_lines += 1
                warn(f"{name}:{number}: skipped: {exc}")
                continue
            if parsed.observation is None:
                summary.skipped_kinds[parsed.kind] += 1
                continue
            summary.observations += 1
            last_ns = max(last_ns, parsed.observation.observed_at_ns)
            try:
                spans = engine.observe(parsed.observation)
            except Exception as exc:  # one fault of the engine must not lose the whole replay
                summary.failed += 1
                warn(f"{name}:{number}: skipped: the engine failed on it "
                     f"({type(exc).__name__}: {exc}); please report this with the line")
                continue
            await publish(spans)
        if bar is not None:
            bar.close()
    # The end of the capture: what ended settles, then everything ended is emitted,
    # as the daemon does when it stops. Lifecycles still running stay unreported.
    await publish(engine.advance(last_ns + engine.options.settle_delay_ns))
    await publish(engine.drain())
    queue.start()
    await queue.flush(timeout_s=settings.flush_timeout)
    summary.spans = queue.stats.exported
    summary.lost = sum(queue.stats.dropped.values())
    return summary


async def _drain(queue: ExportQueue, *, patience_s: float) -> bool:
    """Let the queue send everything waiting: True once it has; False after `patience_s` of
    failed retries (the queue stays bounded and keeps retrying in the background)."""
    queue.start()
    failing_since: float | None = None
    while queue.depth:
        await asyncio.sleep(_DRAIN_POLL_S)
        if queue.backing_off:
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > patience_s:
                return False
        else:
            failing_since = None
    return True


async def run_replay(*, settings: Settings, path: str) -> int:
    """`tracewatch replay`: 0 when replayed with every span exported, 1 when spans could not
    be exported, 2 for a bad setting or an unreadable capture."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        print(f"tracewatch replay: error: cannot read {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    try:
        exporter = exporter_from_settings(settings)
    except (ValueError, OSError) as exc:
        print(f"tracewatch replay: error: {exc}", file=sys.stderr)
        return 2

    def warn(message: str) -> None:
        print(f"tracewatch replay: {message}", file=sys.stderr)

    try:
        summary = await replay_capture(
            path=path,
            settings=settings,
            exporter=exporter,
            warn=warn,
            progress=sys.stderr if sys.stderr.isatty() else None,
        )
    except OSError as exc:
        print(f"tracewatch replay: error: cannot read {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    finally:
        await exporter.shutdown()
    print(f"# replayed {path}: {summary.describe()}", file=sys.stderr)
    return 1 if summary.lost else 0
