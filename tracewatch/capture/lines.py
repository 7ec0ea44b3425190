"""The capture line format: encoding an observation, decoding a line back into one.

Receipt times are RFC 3339 in UTC with nine fractional digits
(`2024-05-01T10:00:00.123456789Z`), so a replay gets the exact nanoseconds the
daemon stamped. The object's resource comes from its `kind` (and `apiVersion`,
so an `events.k8s.io` Event is not mistaken for a core one) via the watch
layer's resource table; it is decoded into the same compact snapshot a live
watch line would be.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass

import msgspec

from tracewatch.core.observations import Change, Observation
from tracewatch.kube.decoding import DecodeError, decoder_for
from tracewatch.kube.resources import resource_for_kind

__all__ = ["CaptureLine", "CaptureLineError", "format_observed_at", "parse_capture_line"]

_NS = 1_000_000_000
_TYPES = {"ADDED": Change.ADDED, "MODIFIED": Change.MODIFIED, "DELETED": Change.DELETED}


class CaptureLineError(ValueError):
    """A line that is not a capture record (the message says why, never the payload)."""


def format_observed_at(ns: int) -> str:
    """RFC 3339 UTC with nanoseconds from ns since the epoch."""
    seconds, fraction = divmod(ns, _NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def parse_observed_at(text: str) -> int:
    """ns since the epoch from RFC 3339 (any fraction length up to ns; Z or an offset)."""
    text = text.strip()
    if len(text) < 20 or text[10] not in "Tt ":
        raise CaptureLineError(f"observedAt {text!r} is not an RFC 3339 time")
    offset_s = 0
    if text[-1] in "Zz":
        body = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        offset_s = sign * (int(text[-5:-3]) * 3600 + int(text[-2:]) * 60)
        body = text[:-6]
    else:
        raise CaptureLineError(f"observedAt {text!r} has no time zone")
    whole, _, fraction = body.partition(".")
    try:
        parsed = time.strptime(whole[:19].replace("t", "T").replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise CaptureLineError(f"observedAt {text!r} is not an RFC 3339 time") from None
    if not fraction.isdigit() and fraction:
        raise CaptureLineError(f"observedAt {text!r} has a bad fraction")
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return (calendar.timegm(parsed) - offset_s) * _NS + nanos


class _Line(msgspec.Struct, rename="camel"):
    observed_at: str
    type: str
    object: msgspec.Raw


class _Kind(msgspec.Struct, rename="camel"):
    kind: str = ""
    api_version: str = ""


_line_decoder = msgspec.json.Decoder(_Line)
_kind_decoder = msgspec.json.Decoder(_Kind)


@dataclass(frozen=True, slots=True)
class CaptureLine:
    """A decoded line: the observation, or None for a kind tracewatch does not watch."""

    observation: Observation | None
    kind: str


def parse_capture_line(line: bytes) -> CaptureLine:
    """Decode one capture line; CaptureLineError says what is wrong with it."""
    try:
        record = _line_decoder.decode(line)
        kind = _kind_decoder.decode(record.object)
    except msgspec.MsgspecError as exc:
        raise CaptureLineError(f"not a capture record: {exc}") from None
    change = _TYPES.get(record.type)
    if change is None:
        raise CaptureLineError(f"type {record.type!r} is not ADDED, MODIFIED or DELETED")
    observed_at = parse_observed_at(record.observed_at)
    resource = resource_for_kind(kind=kind.kind, api_version=kind.api_version)
    if resource is None:
        return CaptureLine(None, kind.kind or "<no kind>")
    try:
        snapshot = decoder_for(resource.name).decode_object(record.object)
    except DecodeError as exc:
        raise CaptureLineError(f"{kind.kind}: {exc}") from None
    if not snapshot.metadata.uid:
        raise CaptureLineError(f"{kind.kind} without metadata.uid")
    observation = Observation(
        observed_at_ns=observed_at, change=change, resource=resource.name, obj=snapshot
    )
    return CaptureLine(observation, kind.kind)
