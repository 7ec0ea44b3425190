"""Trace-context annotations: continuing a caller's trace into an object's lifecycle.

Accepted (DESIGN.md, "Identity and context"):

- `trace.kubernetes.io/context`: W3C `traceparent` text, or the object-tracing
  proposal's base64 OpenCensus binary form (version 0; field 0: trace id, 16
  bytes; field 1: span id, 8 bytes; field 2: options, 1 byte);
- `tracing.k8s.io/traceparent`: W3C `traceparent` text.

Garbage yields None; the caller counts it. Nothing here raises on input.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from tracewatch.core.lifecycle import Placement

ANNOTATIONS = ("trace.kubernetes.io/context", "tracing.k8s.io/traceparent")
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")


def parse_traceparent(text: str) -> tuple[bytes, bytes] | None:
    """(trace id, span id) from a W3C traceparent, or None if it is not one."""
    match = _TRACEPARENT.match(text.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest):
        return None
    trace, span = bytes.fromhex(trace_hex), bytes.fromhex(span_hex)
    if not any(trace) or not any(span):
        return None
    return trace, span


def parse_opencensus_binary(text: str) -> tuple[bytes, bytes] | None:
    """(trace id, span id) from base64 OpenCensus binary trace context, or None."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 1 or raw[0] != 0:
        return None
    trace = span = b""
    i = 1
    while i < len(raw):
        field_id = raw[i]
        if field_id == 0 and i + 17 <= len(raw):
            trace, i = raw[i + 1 : i + 17], i + 17
        elif field_id == 1 and i + 9 <= len(raw):
            span, i = raw[i + 1 : i + 9], i + 9
        elif field_id == 2 and i + 2 <= len(raw):
            i += 2
        else:
            return None
    if len(trace) != 16 or len(span) != 8 or not any(trace) or not any(span):
        return None
    return trace, span


def context_from_annotations(
    annotations: dict[str, str] | None,
) -> Placement | Literal[False] | None:
    """The caller's context from an object's annotations.

    Returns a Placement-shaped parent (span_id unset: b""), None when no
    annotation is present, or False when one is present but unparsable.
    """
    if not annotations:
        return None
    found = False
    for key in ANNOTATIONS:
        value = annotations.get(key)
        if value is None:
            continue
        found = True
        parsed = parse_traceparent(value)
        if parsed is None and key == "trace.kubernetes.io/context":
            parsed = parse_opencensus_binary(value)
        if parsed is not None:
            return Placement(trace_id=parsed[0], parent_span_id=parsed[1], span_id=b"")
    return False if found else None
