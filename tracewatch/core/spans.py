"""Immutable span records: what the core emits and every exporter consumes.

These are our own compact records, not OpenTelemetry SDK spans: exporters
encode them to OTLP directly (see `tracewatch.export.encoding`), which is far
cheaper than building SDK span objects.
"""

from __future__ import annotations

import enum

from msgspec import Struct

AttributeValue = str | bool | int | float | tuple[str, ...]
Attributes = tuple[tuple[str, AttributeValue], ...]


class StatusCode(enum.IntEnum):
    """OTLP status codes (opentelemetry.proto.trace.v1.Status.StatusCode)."""

    UNSET = 0
    OK = 1
    ERROR = 2


class Outcome(enum.Enum):
    """How a lifecycle ended; recorded on roots as `tracewatch.outcome`."""

    COMPLETED = "completed"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    DELETED = "deleted"
    TIMED_OUT = "timed_out"
    INCOMPLETE = "incomplete"


class TimeSource(enum.Enum):
    """Where a span's times came from; recorded as `tracewatch.time_source`."""

    WATCH = "watch"  # receipt time, clamped into the server timestamp's second
    SERVER = "server"  # a server timestamp alone: one-second precision
    EVENT_TIME = "event_time"  # an Event's eventTime (microseconds)
    EVENT_NAME = "event_name"  # the emitter's clock from a legacy Event's name (ns)


class SpanEvent(Struct, frozen=True, gc=False):
    time_ns: int
    name: str
    attributes: Attributes = ()


class SpanLink(Struct, frozen=True, gc=False):
    trace_id: bytes
    span_id: bytes
    attributes: Attributes = ()


class SpanRecord(Struct, frozen=True, gc=False):
    """One finished span.

    trace_id is 16 bytes, span_id 8 bytes, parent_span_id 8 bytes or b"" for a
    root. service is the component that did the work; exporters put it into the
    OTLP resource as `service.name`.
    """

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    service: str
    start_ns: int
    end_ns: int
    attributes: Attributes = ()
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()
    status: StatusCode = StatusCode.UNSET
    status_message: str = ""

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id

    def attribute(self, key: str) -> AttributeValue | None:
        for k, v in self.attributes:
            if k == key:
                return v
        return None
