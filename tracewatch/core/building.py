"""Assembling a lifecycle's spans: ids, clamping into the parent, time-source attributes.

Every kind builds its tree through `TraceBuilder`, so the invariants hold in one
place: no span has negative length, no child lies outside its parent, and
every span says where its times came from.
"""

from __future__ import annotations

from typing import Any

from tracewatch.core import ids
from tracewatch.core.clock import Instant
from tracewatch.core.lifecycle import Placement
from tracewatch.core.spans import (
    Attributes,
    AttributeValue,
    SpanEvent,
    SpanLink,
    SpanRecord,
    StatusCode,
)


class TraceBuilder:
    """Collects the spans of one trace; children are clamped into their parents when added."""

    __slots__ = ("_bounds", "_ceiling_ns", "_floor_ns", "_scope", "_spans", "placement", "trace_id")

    def __init__(
        self, *, placement: Placement, scope: str, floor_ns: int = 0, ceiling_ns: int | None = None
    ) -> None:
        self.placement = placement
        self._floor_ns = floor_ns
        self._ceiling_ns = ceiling_ns
        self.trace_id = placement.trace_id
        self._scope = scope
        self._spans: list[SpanRecord] = []
        self._bounds: dict[bytes, tuple[int, int]] = {}

    def top(self, **fields: Any) -> bytes:
        """Add the lifecycle's top span where its placement says (parent, id, links)."""
        return self.add(
            parent=self.placement.parent_span_id,
            span_id=self.placement.span_id,
            links=(*self.placement.links, *fields.pop("links", ())),
            **fields,
        )

    def add(
        self,
        *,
        name: str,
        service: str,
        start: Instant,
        end: Instant,
        parent: bytes = b"",
        discriminator: str = "",
        span_id: bytes | None = None,
        attributes: Attributes = (),
        events: tuple[SpanEvent, ...] = (),
        links: tuple[SpanLink, ...] = (),
        status: StatusCode = StatusCode.UNSET,
        status_message: str = "",
    ) -> bytes:
        """Add one span, return its id; a parent added here clamps it, an outside one cannot."""
        start_ns, end_ns = start.ns, end.ns
        if not self._spans:
            # The top span of a lifecycle nested in an owner stays within what the owner allows.
            start_ns = max(start_ns, self._floor_ns)
            if self._ceiling_ns is not None:
                start_ns = min(start_ns, self._ceiling_ns)
                end_ns = min(end_ns, self._ceiling_ns)
        if parent in self._bounds:
            lo, hi = self._bounds[parent]
            start_ns = min(max(start_ns, lo), hi)
            end_ns = min(max(end_ns, lo), hi)
        end_ns = max(end_ns, start_ns)
        span = span_id or ids.span_id(name=name, discriminator=f"{self._scope}/{discriminator}")
        if start.source is end.source:
            sources = start.source.value
        else:
            sources = f"{start.source.value},{end.source.value}"
        attrs: tuple[tuple[str, AttributeValue], ...] = (
            *attributes,
            ("tracewatch.time_source", sources),
        )
        self._spans.append(
            SpanRecord(
                trace_id=self.trace_id,
                span_id=span,
                parent_span_id=parent,
                name=name,
                service=service,
                start_ns=start_ns,
                end_ns=end_ns,
                attributes=attrs,
                events=tuple(
                    SpanEvent(min(max(e.time_ns, start_ns), end_ns), e.name, e.attributes)
                    for e in events
                ),
                links=links,
                status=status,
                status_message=status_message,
            )
        )
        self._bounds[span] = (start_ns, end_ns)
        return span

    def spans(self) -> list[SpanRecord]:
        return self._spans
