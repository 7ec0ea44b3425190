"""Console exporter: each trace as an indented waterfall tree, readable at a glance.

With a 10-cell bar (the default is 30), a pod startup reads:

    trace 0af7651916cd43dd8448eb211c80319c
    k8s.CreatePod [kubernetes]                3.21s   +0ms |██████████| ns=default pod=web-1 ...
    ├─ scheduler.SchedulePod [kube-scheduler]  12ms   +0ms |█         |
    └─ kubelet.StartPod [kubelet]             3.19s  +20ms |██████████|
       ├─ kubelet.PullImage [kubelet]         2.10s  +30ms |███████   |
       └─ kubelet.StartContainer [kubelet]     85ms +2.14s |      █   |

`format_traces` is the pure formatter; `ConsoleExporter` writes its output to a
text stream, holding a trace's spans until its root arrives (children end, and
are emitted, before their root) so each tree prints whole.
"""

from __future__ import annotations

import contextlib
import sys
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TextIO

from tracewatch.core.spans import SpanRecord, StatusCode
from tracewatch.export.base import ExportResult

__all__ = ["ConsoleExporter", "format_duration", "format_traces"]

_BAR_WIDTH = 30
_MAX_NAME_COLUMN = 64
# Object-name attributes shown on lifecycle lines, as short labels.
_OBJECT_NAMES = (
    ("k8s.pod.name", "pod"),
    ("k8s.deployment.name", "deployment"),
    ("k8s.replicaset.name", "replicaset"),
    ("k8s.statefulset.name", "statefulset"),
    ("k8s.daemonset.name", "daemonset"),
    ("k8s.job.name", "job"),
    ("k8s.persistentvolumeclaim.name", "pvc"),
    ("k8s.container.name", "container"),
)


def format_duration(ns: int) -> str:
    """A duration in the unit that keeps it short: 850µs, 1.2ms, 85ms, 1.23s, 2m05s, 1h02m."""
    if ns < 0:
        return "-" + format_duration(-ns)
    if ns == 0:
        return "0ms"
    if ns < 1_000:
        return f"{ns}ns"
    if ns < 999_500:
        return f"{ns / 1e3:.0f}µs"
    if ns < 9_950_000:
        return f"{ns / 1e6:.1f}ms"
    if ns < 999_500_000:
        return f"{ns / 1e6:.0f}ms"
    if ns < 59_995_000_000:
        return f"{ns / 1e9:.2f}s"
    seconds = round(ns / 1e9)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    minutes = seconds // 60
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _bar(start: int, end: int, origin: int, total: int, width: int) -> str:
    if total <= 0:
        return "█" * width
    first = min(width - 1, max(0, (start - origin) * width // total))
    last = max(first + 1, min(width, -((origin - end) * width // total)))  # ceil division
    return " " * first + "█" * (last - first) + " " * (width - last)


def _labels(span: SpanRecord, *, show_object: bool) -> str:
    parts = []
    if show_object:
        namespace = span.attribute("k8s.namespace.name")
        if namespace:
            parts.append(f"ns={namespace}")
        for key, label in _OBJECT_NAMES:
            value = span.attribute(key)
            if value:
                parts.append(f"{label}={value}")
                break
        node = span.attribute("k8s.node.name")
        if node:
            parts.append(f"node={node}")
    outcome = span.attribute("tracewatch.outcome")
    if outcome:
        parts.append(f"outcome={outcome}")
    if span.status == StatusCode.ERROR:
        parts.append(f"✗ {span.status_message or 'error'}")
    return " ".join(parts)


def _format_trace(spans: list[SpanRecord], bar_width: int) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    children: dict[bytes, list[SpanRecord]] = {}
    roots: list[SpanRecord] = []
    for span in spans:
        # A span whose parent is not here heads its own subtree.
        if span.parent_span_id and span.parent_span_id in by_id:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    order = lambda s: (s.start_ns, s.end_ns, s.name)  # noqa: E731
    roots.sort(key=order)
    origin = min(s.start_ns for s in spans)
    total = max(s.end_ns for s in spans) - origin

    rows: list[tuple[str, SpanRecord]] = []
    seen: set[bytes] = set()

    def walk(span: SpanRecord, prefix: str, branch: str) -> None:
        if span.span_id in seen:  # a parent cycle in bad input must not recurse forever
            return
        seen.add(span.span_id)
        rows.append((branch, span))
        kids = sorted(children.get(span.span_id, ()), key=order)
        for i, kid in enumerate(kids):
            last = i == len(kids) - 1
            walk(kid, prefix + ("   " if last else "│  "), prefix + ("└─ " if last else "├─ "))

    for root in roots:
        walk(root, "", "")

    heads = [f"{branch}{s.name} [{s.service}]" for branch, s in rows]
    column = min(_MAX_NAME_COLUMN, max(len(h) for h in heads))
    lines = [f"trace {spans[0].trace_id.hex()}"]
    for head, (branch, span) in zip(heads, rows, strict=True):
        show_object = not branch or span.attribute("tracewatch.outcome") is not None
        labels = _labels(span, show_object=show_object)
        line = (
            f"{head:<{column}} {format_duration(span.end_ns - span.start_ns):>7}"
            f" {'+' + format_duration(span.start_ns - origin):>8}"
            f" |{_bar(span.start_ns, span.end_ns, origin, total, bar_width)}|"
        )
        lines.append(f"{line} {labels}" if labels else line)
    return lines


def format_traces(spans: Iterable[SpanRecord], *, bar_width: int = _BAR_WIDTH) -> str:
    """All spans as one tree per trace, traces ordered by start; "" when there are none."""
    traces: dict[bytes, list[SpanRecord]] = {}
    for span in spans:
        traces.setdefault(span.trace_id, []).append(span)
    ordered = sorted(traces.values(), key=lambda t: (min(s.start_ns for s in t), t[0].trace_id))
    blocks = ["\n".join(_format_trace(group, bar_width)) for group in ordered]
    return "\n\n".join(blocks) + "\n" if blocks else ""


class ConsoleExporter:
    """Prints trees to a text stream (sys.stdout by default).

    With `hold_until_root` (the default) spans wait until their trace's root
    (a span without a parent) arrives; spans of a trace already printed are
    printed at once; past `max_pending_spans` the oldest held trace is printed
    as it stands; `shutdown` prints whatever is still held.
    """

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        hold_until_root: bool = True,
        max_pending_spans: int = 10_000,
    ) -> None:
        self._stream = stream
        self._hold = hold_until_root
        self._max_pending = max_pending_spans
        self._pending: OrderedDict[bytes, list[SpanRecord]] = OrderedDict()
        self._pending_count = 0
        self._printed: OrderedDict[bytes, None] = OrderedDict()

    def _write(self, spans: Sequence[SpanRecord]) -> None:
        text = format_traces(spans)
        if text:
            stream = self._stream or sys.stdout
            stream.write(text + "\n")
            stream.flush()

    def _release(self, trace_id: bytes) -> list[SpanRecord]:
        spans = self._pending.pop(trace_id, [])
        self._pending_count -= len(spans)
        self._printed[trace_id] = None
        if len(self._printed) > 4096:
            self._printed.popitem(last=False)
        return spans

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        """Print the traces this batch completes."""
        if not self._hold:
            out: list[SpanRecord] = list(spans)
        else:
            out = []
            complete: list[bytes] = []
            for span in spans:
                if span.trace_id in self._printed:
                    out.append(span)
                    continue
                self._pending.setdefault(span.trace_id, []).append(span)
                self._pending_count += 1
                if span.is_root:
                    complete.append(span.trace_id)
            for trace_id in complete:
                out.extend(self._release(trace_id))
            while self._pending_count > self._max_pending:
                out.extend(self._release(next(iter(self._pending))))
        try:
            self._write(out)
        except (OSError, ValueError):  # closed or broken stream (e.g. a closed pipe)
            return ExportResult.FAILURE
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        """Print every trace still held."""
        held: list[SpanRecord] = []
        while self._pending:
            held.extend(self._release(next(iter(self._pending))))
        with contextlib.suppress(OSError, ValueError):
            self._write(held)
