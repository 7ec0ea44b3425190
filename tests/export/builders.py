"""Hand-made span records for export tests (one small pod-startup trace, a span factory) and
an exporter that answers from a script."""

from __future__ import annotations

from collections.abc import Sequence

from tracewatch.core.spans import Attributes, SpanEvent, SpanLink, SpanRecord, StatusCode
from tracewatch.export.base import ExportResult

MS = 1_000_000
T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
OTHER_TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")


def sid(n: int) -> bytes:
    """A readable 8-byte span id: sid(1) == 00..01."""
    return n.to_bytes(8, "big")


def span(
    name: str,
    *,
    span_id: int,
    parent: int | None = None,
    trace_id: bytes = TRACE,
    service: str = "kubelet",
    start_ms: float = 0,
    end_ms: float = 10,
    attributes: Attributes = (),
    events: tuple[SpanEvent, ...] = (),
    links: tuple[SpanLink, ...] = (),
    status: StatusCode = StatusCode.UNSET,
    status_message: str = "",
) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id,
        span_id=sid(span_id),
        parent_span_id=b"" if parent is None else sid(parent),
        name=name,
        service=service,
        start_ns=T0 + int(start_ms * MS),
        end_ns=T0 + int(end_ms * MS),
        attributes=attributes,
        events=events,
        links=links,
        status=status,
        status_message=status_message,
    )


POD_ATTRS: Attributes = (
    ("k8s.namespace.name", "default"),
    ("k8s.pod.name", "web-1"),
    ("k8s.pod.uid", "6f1c0f3e-1111-2222-3333-444455556666"),
)


def pod_startup(trace_id: bytes = TRACE, *, offset_ms: float = 0) -> list[SpanRecord]:
    """A pod startup in emission order (children first, root last)."""
    o = offset_ms
    return [
        span(
            "scheduler.SchedulePod",
            span_id=2,
            parent=1,
            trace_id=trace_id,
            service="kube-scheduler",
            start_ms=o,
            end_ms=o + 12,
            attributes=POD_ATTRS,
        ),
        span(
            "kubelet.PullImage",
            span_id=4,
            parent=3,
            trace_id=trace_id,
            start_ms=o + 30,
            end_ms=o + 2130,
            attributes=(*POD_ATTRS, ("container.image.name", "nginx:1.27")),
        ),
        span(
            "kubelet.StartContainer",
            span_id=5,
            parent=3,
            trace_id=trace_id,
            start_ms=o + 2140,
            end_ms=o + 2225,
            attributes=POD_ATTRS,
        ),
        span(
            "kubelet.StartPod",
            span_id=3,
            parent=1,
            trace_id=trace_id,
            start_ms=o + 20,
            end_ms=o + 3210,
            attributes=(*POD_ATTRS, ("k8s.node.name", "node-1")),
        ),
        span(
            "k8s.CreatePod",
            span_id=1,
            trace_id=trace_id,
            service="kubernetes",
            start_ms=o,
            end_ms=o + 3210,
            attributes=(
                *POD_ATTRS,
                ("k8s.node.name", "node-1"),
                ("tracewatch.outcome", "completed"),
            ),
        ),
    ]


class ScriptedExporter:
    """Answers export calls from a script of results, then with `then` (SUCCESS unless
    given), recording every batch it was handed."""

    def __init__(
        self,
        *results: ExportResult,
        then: ExportResult = ExportResult.SUCCESS,
        retry_after_s: float | None = None,
    ) -> None:
        self.script = list(results)
        self.then = then
        self.batches: list[list[SpanRecord]] = []
        self.retry_after_s = retry_after_s

    async def export(self, batch: Sequence[SpanRecord]) -> ExportResult:
        self.batches.append(list(batch))
        return self.script.pop(0) if self.script else self.then

    async def shutdown(self) -> None:
        return None
