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
    SpanEvent,
    SpanLink,
    SpanRecord,
    StatusCode,
    TimeSource,
)

# ("tracewatch.time_source", "<start source>[,<end source>]") for every pair of sources, built
# once: spans share these pairs instead of allocating their own.
_TIME_SOURCE_ATTRIBUTE: dict[tuple[str, str], tuple[str, str]] = {
    (a.value, b.value): ("tracewatch.time_source", a.value if a is b else f"{a.value},{b.value}")
    for a in TimeSource
    for b in TimeSource
}


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

    def top(self, *, links: tuple[SpanLink, ...] = (), **fields: Any) -> bytes:
        """Add the lifecycle's top span where its placement says (parent, id, links)."""
        placement = self.placement
        return self.add(
            parent=placement.parent_span_id,
            span_id=placement.span_id,
            links=placement.links + links if links else placement.links,
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
        # Comparisons rather than min()/max(): this runs for every span, and the builtin
        # calls cost more than the clamping itself.
        start_ns = start.ns
        end_ns = end.ns
        spans = self._spans
        if spans:
            bounds = self._bounds.get(parent)
            if bounds is not None:
                lo, hi = bounds  # lo <= hi: they are an added span's (start, end)
                if start_ns < lo:
                    start_ns = lo
                elif start_ns > hi:
                    start_ns = hi
                if end_ns < lo:
                    end_ns = lo
                elif end_ns > hi:
                    end_ns = hi
        else:
            # The top span of a lifecycle nested in an owner stays within what the owner allows.
            if start_ns < self._floor_ns:
                start_ns = self._floor_ns
            ceiling = self._ceiling_ns
            if ceiling is not None:
                if start_ns > ceiling:
                    start_ns = ceiling
                if end_ns > ceiling:
                    end_ns = ceiling
        if end_ns < start_ns:
            end_ns = start_ns
        if not span_id:
            # ids.span_id(name=name, discriminator=f"{scope}/{discriminator}"), one string built.
            span_id = ids.span_id_of(f"{name}/{self._scope}/{discriminator}")
        if events:
            events = tuple(
                e
                if start_ns <= e.time_ns <= end_ns
                else SpanEvent(min(max(e.time_ns, start_ns), end_ns), e.name, e.attributes)
                for e in events
            )
        # _value_, not .value: the enum property costs a Python call, and this runs per span.
        attributes += (_TIME_SOURCE_ATTRIBUTE[start.source._value_, end.source._value_],)
        spans.append(
            SpanRecord(
                self.trace_id,
                span_id,
                parent,
                name,
                service,
                start_ns,
                end_ns,
                attributes,
                events,
                links,
                status,
                status_message,
            )
        )
        self._bounds[span_id] = (start_ns, end_ns)
        return span_id

    def spans(self) -> list[SpanRecord]:
        return self._spans
