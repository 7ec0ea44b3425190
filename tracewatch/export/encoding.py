"""Pure OTLP encoding of span records: protobuf bytes, the generated request, OTLP/JSON.

One ResourceSpans per distinct `SpanRecord.service` (in order of first
appearance, so the output is deterministic), its Resource carrying
`service.name` plus the given resource attributes; one ScopeSpans named
`tracewatch`; spans keep their input order and are of kind INTERNAL.

`encode_request_bytes` is the hot path the network exporters send; it writes
the wire format directly (see `_wire.py` for why). `encode_request` parses
those bytes into the generated `ExportTraceServiceRequest` for callers that
want the message. `encode_json` follows the OTLP "JSON Protobuf Encoding"
(opentelemetry-proto docs/specification.md): lowerCamelCase keys, hex ids,
integer enums, 64-bit integers as decimal strings, default values omitted.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracewatch import __version__
from tracewatch.core.memo import remember
from tracewatch.core.spans import Attributes, SpanEvent, SpanLink, SpanRecord, StatusCode
from tracewatch.export._wire import (
    FIXED64,
    VARINTS,
    attributes_field,
    json_attributes,
    keyvalue_fields,
    length_delimited,
    string_field,
    varint,
)

__all__ = [
    "SCOPE_NAME",
    "SPAN_KIND_INTERNAL",
    "encode_json",
    "encode_request",
    "encode_request_bytes",
]

SCOPE_NAME = "tracewatch"
SPAN_KIND_INTERNAL = 1  # opentelemetry.proto.trace.v1.Span.SpanKind.SPAN_KIND_INTERNAL

# InstrumentationScope{name=1, version=2}, already wrapped as ScopeSpans.scope (field 1).
_SCOPE_FIELD = length_delimited(
    b"\x0a", string_field(b"\x0a", SCOPE_NAME) + string_field(b"\x12", __version__)
)
# Span fields 6 (kind INTERNAL), 7 and 8 (fixed64 start/end) packed in one call.
_KIND_AND_TIMES = struct.Struct("<BBBQBQ")
# Span fields 1-3 (trace_id, span_id, parent_span_id) with their tags, for ids of the
# usual lengths ("s" would pad or cut any other length).
_IDS = struct.Struct("<2s16s2s8s2s8s")
_NAME_CACHE: dict[str, bytes] = {}
_NAME_LIMIT = 4096
_SPAN_ATTRIBUTE = keyvalue_fields(b"\x4a").__getitem__  # Span.attributes (9)


def _name_field(name: str) -> bytes:
    cached = _NAME_CACHE.get(name)
    if cached is None:
        cached = remember(_NAME_CACHE, name, string_field(b"\x2a", name), _NAME_LIMIT)
    return cached


def _event_field(event: SpanEvent) -> bytes:
    # Span.events (11): Event{time_unix_nano=1 fixed64, name=2, attributes=3}.
    body = b"\x09" + FIXED64.pack(event.time_ns) + string_field(b"\x12", event.name)
    if event.attributes:
        body += attributes_field(b"\x1a", event.attributes)
    return length_delimited(b"\x5a", body)


def _link_field(link: SpanLink) -> bytes:
    # Span.links (13): Link{trace_id=1, span_id=2, attributes=4}.
    body = length_delimited(b"\x0a", link.trace_id) + length_delimited(b"\x12", link.span_id)
    if link.attributes:
        body += attributes_field(b"\x22", link.attributes)
    return length_delimited(b"\x6a", body)


def _status_field(code: StatusCode, message: str) -> bytes:
    # Span.status (15): Status{message=2, code=3}; omitted entirely when default.
    body = b""
    if message:
        body += string_field(b"\x12", message)
    if code:
        body += b"\x18" + varint(int(code))
    return length_delimited(b"\x7a", body)


def _span_body(span: SpanRecord) -> bytes:
    """One Span message, without the ScopeSpans.spans tag and length that wrap it."""
    trace_id, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    name = _name_field(span.name)
    kind_and_times = _KIND_AND_TIMES.pack(
        0x30, SPAN_KIND_INTERNAL, 0x39, span.start_ns, 0x41, span.end_ns
    )
    if len(trace_id) == 16 and len(span_id) == 8 and len(parent) == 8:
        ids = _IDS.pack(b"\x0a\x10", trace_id, b"\x12\x08", span_id, b"\x22\x08", parent)
        parts = [ids, name, kind_and_times]
    else:  # a root (no parent), or ids of unusual lengths
        parts = [length_delimited(b"\x0a", trace_id), length_delimited(b"\x12", span_id)]
        if parent:
            parts.append(length_delimited(b"\x22", parent))
        parts += (name, kind_and_times)
    if span.attributes:
        parts += map(_SPAN_ATTRIBUTE, span.attributes)
    if span.events:
        parts += [_event_field(e) for e in span.events]
    if span.links:
        parts += [_link_field(link) for link in span.links]
    if span.status or span.status_message:
        parts.append(_status_field(span.status, span.status_message))
    return b"".join(parts)


def _resource_attributes(service: str, extra: Attributes) -> Attributes:
    # service.name is per component; a service.name among the extras would contradict it.
    return (("service.name", service), *(p for p in extra if p[0] != "service.name"))


def _group_by_service(spans: Sequence[SpanRecord]) -> dict[str, list[SpanRecord]]:
    groups: dict[str, list[SpanRecord]] = {}
    for span in spans:
        group = groups.get(span.service)
        if group is None:
            groups[span.service] = group = []
        group.append(span)
    return groups


def encode_request_bytes(
    spans: Sequence[SpanRecord], *, resource_attributes: Attributes = ()
) -> bytes:
    """Serialized ExportTraceServiceRequest for `spans` (b"" when there are none)."""
    # Each service's ScopeSpans as a list of pieces (its scope, then the tag, length and
    # body of each span), filled in one pass: a span's bytes are copied twice (joined into
    # its body, then into the request), not once per level of nesting as concatenating
    # each wrapper would.
    pieces_by_service: dict[str, list[bytes]] = {}
    for span in spans:
        body = _span_body(span)
        pieces = pieces_by_service.get(span.service)
        if pieces is None:
            pieces = pieces_by_service[span.service] = [_SCOPE_FIELD]
        n = len(body)
        pieces += (b"\x12", VARINTS[n] if n < 16384 else varint(n), body)
    out: list[bytes] = []
    for service, pieces in pieces_by_service.items():
        # Resource{attributes=1} as ResourceSpans.resource (1); ScopeSpans as field 2.
        resource = length_delimited(
            b"\x0a", attributes_field(b"\x0a", _resource_attributes(service, resource_attributes))
        )
        scope_size = sum(map(len, pieces))
        head = resource + b"\x12" + varint(scope_size)
        out += (b"\x0a", varint(len(head) + scope_size), head, *pieces)
    return b"".join(out)


def encode_request(
    spans: Sequence[SpanRecord], *, resource_attributes: Attributes = ()
) -> ExportTraceServiceRequest:
    """The generated ExportTraceServiceRequest message for `spans`."""
    return ExportTraceServiceRequest.FromString(
        encode_request_bytes(spans, resource_attributes=resource_attributes)
    )


# --- OTLP/JSON ---


def _json_span(span: SpanRecord) -> dict[str, object]:
    out: dict[str, object] = {"traceId": span.trace_id.hex(), "spanId": span.span_id.hex()}
    if span.parent_span_id:
        out["parentSpanId"] = span.parent_span_id.hex()
    if span.name:
        out["name"] = span.name
    out["kind"] = SPAN_KIND_INTERNAL
    if span.start_ns:
        out["startTimeUnixNano"] = str(span.start_ns)
    if span.end_ns:
        out["endTimeUnixNano"] = str(span.end_ns)
    if span.attributes:
        out["attributes"] = json_attributes(span.attributes)
    if span.events:
        out["events"] = [_json_event(e) for e in span.events]
    if span.links:
        out["links"] = [_json_link(link) for link in span.links]
    if span.status or span.status_message:
        status: dict[str, object] = {}
        if span.status_message:
            status["message"] = span.status_message
        if span.status:
            status["code"] = int(span.status)
        out["status"] = status
    return out


def _json_event(event: SpanEvent) -> dict[str, object]:
    out: dict[str, object] = {}
    if event.time_ns:
        out["timeUnixNano"] = str(event.time_ns)
    if event.name:
        out["name"] = event.name
    if event.attributes:
        out["attributes"] = json_attributes(event.attributes)
    return out


def _json_link(link: SpanLink) -> dict[str, object]:
    out: dict[str, object] = {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex()}
    if link.attributes:
        out["attributes"] = json_attributes(link.attributes)
    return out


_JSON_SCOPE = {"name": SCOPE_NAME, "version": __version__}


def encode_json(spans: Sequence[SpanRecord], *, resource_attributes: Attributes = ()) -> bytes:
    """One OTLP/JSON ExportTraceServiceRequest (UTF-8, no trailing newline)."""
    resource_spans = [
        {
            "resource": {
                "attributes": json_attributes(_resource_attributes(service, resource_attributes))
            },
            "scopeSpans": [{"scope": _JSON_SCOPE, "spans": [_json_span(s) for s in group]}],
        }
        for service, group in _group_by_service(spans).items()
    ]
    if not resource_spans:
        return b"{}"
    return orjson.dumps({"resourceSpans": resource_spans})
