"""The capture line format: encoding an observation, decoding a line back into one.

Receipt times are RFC 3339 in UTC with nine fractional digits
(`2024-05-01T10:00:00.123456789Z`), so a replay gets the exact nanoseconds the
daemon stamped. The object's resource comes from its `kind` (and `apiVersion`,
so an `events.k8s.io` Event is not mistaken for a core one) via the watch
layer's resource table; it is decoded into the same compact snapshot a live
watch line would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

import msgspec

from tracewatch.core.clock import format_timestamp_ns, parse_timestamp_ns
from tracewatch.core.memo import remember
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.decoding import (
    UNDECODABLE,
    DecodeError,
    WatchEnvelope,
    WatchLine,
    decoder_for,
)
from tracewatch.kube.resources import resource_for_kind

__all__ = ["CaptureLine", "CaptureLineError", "format_observed_at", "parse_capture_line"]

_TYPES = {"ADDED": Change.ADDED, "MODIFIED": Change.MODIFIED, "DELETED": Change.DELETED}


class CaptureLineError(ValueError):
    """A line that is not a capture record (the message says why, never the payload)."""


def format_observed_at(ns: int) -> str:
    """RFC 3339 UTC with nanoseconds from ns since the epoch."""
    return format_timestamp_ns(ns)


def parse_observed_at(text: str) -> int:
    """ns since the epoch from RFC 3339 (any fraction length up to ns; Z or an offset)."""
    ns = parse_timestamp_ns(text)
    if ns is None:
        raise CaptureLineError(f"observedAt {text!r} is not an RFC 3339 time with a zone")
    return ns


def _recorded_ns(stamp: bytes) -> int:
    """`parse_observed_at` of a recorded receipt time, the usual form (`format_observed_at`'s:
    nine digits, Z) without the general parser; any other form goes the general way."""
    # Bytes that are not UTF-8 become U+FFFD, which no time parser accepts: the general
    # parser's CaptureLineError then says what the line holds.
    if len(stamp) == 30 and stamp[19] == 0x2E and stamp[29] == 0x5A:  # "." and "Z"
        # The whole second comes from the core clock's memo of seconds already seen.
        secs_ns = parse_timestamp_ns(stamp[:19].decode(errors="replace") + "Z")
        fraction = stamp[20:29]
        if secs_ns is not None and fraction.isdigit():  # bytes: ASCII digits only
            return secs_ns + int(fraction)
    return parse_observed_at(stamp.decode(errors="replace"))


class _Line(msgspec.Struct, rename="camel"):
    observed_at: str
    type: str
    object: msgspec.Raw


class _Kind(msgspec.Struct, rename="camel"):
    kind: str = ""
    api_version: str = ""


_line_decoder = msgspec.json.Decoder(_Line)
# What `tracewatch record` writes: a fixed head, then the object as received, which
# starts with kind and apiVersion (the API server writes kind first; sorted JSON, as
# other tools write it, has apiVersion first).
_RECORDED_HEAD = re.compile(
    rb'\{"observedAt":"([^"\\]{1,64})",'
    rb'("type":"[A-Z]{1,16}","object":\{"(?:kind|apiVersion)":"[A-Za-z0-9./-]{1,128}",'
    rb'"(?:kind|apiVersion)":"[A-Za-z0-9./-]{1,128}")'
)
_HEAD_PARTS = re.compile(
    rb'"type":"(\w+)","object":\{"(\w+)":"([^"]+)","(\w+)":"([^"]+)"'
)
_MAX_HEADS = 1024


class _Head(NamedTuple):
    """What a recorded head says: the change, the resource, the kind."""

    change: Change
    resource: str
    kind: str
    decode_line: Callable[[bytes], WatchLine]


# Heads repeat (a few types x a few kinds): each is understood once.
_heads: dict[bytes, _Head | None] = {}


def _understand(head: bytes) -> _Head | None:
    """The meaning of a recorded head, or None when the general way must decide."""
    try:
        return _heads[head]
    except KeyError:
        pass
    parts = _HEAD_PARTS.fullmatch(head)
    assert parts is not None  # the head matched a stricter pattern
    type_, key, value, other_key, other_value = (part.decode() for part in parts.groups())
    kind, api_version = (value, other_value) if key == "kind" else (other_value, value)
    resource = resource_for_kind(kind=kind, api_version=api_version)
    change = _TYPES.get(type_)
    understood = None
    if {key, other_key} == {"kind", "apiVersion"} and resource is not None and change is not None:
        understood = _Head(change, resource.name, kind, decoder_for(resource.name).decode_line)
    if len(_heads) < _MAX_HEADS:
        _heads[head] = understood
    return understood


# The lookups' keys: a line's bytes up to its receipt time's "." (`{"observedAt":"` and the
# second), and from the time's "Z" on, the head. No head the regex understands ends before
# _HEAD_KEY_END (the shortest: type ADDED, one-letter kind and apiVersion), so its first
# bytes are a fixed-length key and the rest is checked with `startswith`.
_SECOND_END = 35
_HEAD_START = 44
_HEAD_KEY_END = 99
_MAX_SECONDS = 4096

# ns of each remembered second, by the line's bytes up to the ".".
_seconds: dict[bytes, int] = {}


class _Recorded(NamedTuple):
    """An understood head, by its bytes past the key, and what the fast path needs of it."""

    rest: bytes
    decode: Callable[[bytes], WatchEnvelope[Snapshot]]
    type: str
    change: Change
    resource: str
    kind: str
    other: _Recorded | None  # another head with the same key (PersistentVolume and ...Claim)


# Heads by their first bytes. Only understood heads are here, and those are few (types x
# the resource table's kinds x two key orders).
_recorded_heads: dict[bytes, _Recorded] = {}


def _remember(line: bytes, matched: re.Match[bytes], head: _Head, observed_at: int) -> None:
    """Remember the second and the head of a line the regex read, when its receipt time has
    the usual form (`format_observed_at`'s): then its bytes alone say what the regex would."""
    fraction = line[_SECOND_END:_HEAD_START]
    usual = matched.end(1) == _HEAD_START + 1 and line[_SECOND_END - 1] == 0x2E  # "."
    if not (usual and line[_HEAD_START] == 0x5A and fraction.isdigit()):  # "Z"
        return
    prefix = line[:_SECOND_END]
    if prefix not in _seconds:
        # Whichever way `_recorded_ns` read this time, its fraction only adds the digits:
        # every line with this prefix has this second.
        remember(_seconds, prefix, observed_at - int(fraction), _MAX_SECONDS)
    key = line[_HEAD_START:_HEAD_KEY_END]
    rest = line[_HEAD_KEY_END:matched.end(2)]
    known = _recorded_heads.get(key)
    while known is not None and known.rest != rest:
        known = known.other
    if known is None:
        decode = decoder_for(head.resource).decode_envelope
        _recorded_heads[key] = _Recorded(rest, decode, head.change.value, head.change,
                                         head.resource, head.kind, _recorded_heads.get(key))


_kind_decoder = msgspec.json.Decoder(_Kind)


class CaptureLine(msgspec.Struct, frozen=True, gc=False):
    """A decoded line: the observation, or None for a kind tracewatch does not watch."""

    observation: Observation | None
    kind: str


def parse_capture_line(line: bytes) -> CaptureLine:
    """Decode one capture line; CaptureLineError says what is wrong with it.

    Lines as `tracewatch record` writes them (receipt time, type, then the object with
    kind and apiVersion first) are decoded in one pass, as a watch line; anything else
    goes the general way (three passes).
    """
    # Most lines repeat a receipt second and a head already read the regex way: two lookups
    # and a digit check stand for the regex, and the envelope decoder for `decode_line`.
    # Anything unusual (a decode error, no uid, a second `type` key) is read again the
    # regex way, which says what is wrong.
    try:
        second_ns = _seconds[line[:_SECOND_END]]
        recorded = _recorded_heads[line[_HEAD_START:_HEAD_KEY_END]]
    except KeyError:
        return _parse_recorded(line)
    rest, decode, type_, change, resource, kind, other = recorded
    while not line.startswith(rest, _HEAD_KEY_END):
        if other is None:
            return _parse_recorded(line)
        rest, decode, type_, change, resource, kind, other = other
    fraction = line[_SECOND_END:_HEAD_START]
    if not fraction.isdigit():
        return _parse_recorded(line)
    try:
        envelope = decode(line)
    except UNDECODABLE:
        return _parse_recorded(line)
    obj = envelope.object
    if envelope.type != type_ or not obj.metadata.uid:
        return _parse_recorded(line)
    return CaptureLine(Observation(second_ns + int(fraction), change, resource, obj), kind)


def _parse_recorded(line: bytes) -> CaptureLine:
    """`parse_capture_line` through the regex (remembering the second and the head of a
    line read this way for the lookups), or the general way."""
    matched = _RECORDED_HEAD.match(line)
    if matched is None:
        return _parse_general(line)
    head = _understand(matched.group(2))
    if head is None:
        return _parse_general(line)  # the general way says what is wrong, or skips the kind
    observed_at = _recorded_ns(matched.group(1))
    try:
        snapshot = head.decode_line(line).obj
    except DecodeError as exc:
        raise CaptureLineError(f"{head.kind}: {exc}") from None
    parsed = _observation(snapshot, kind=head.kind, observed_at=observed_at, change=head.change,
                          resource=head.resource)
    _remember(line, matched, head, observed_at)
    return parsed


def _parse_general(line: bytes) -> CaptureLine:
    try:
        record = _line_decoder.decode(line)
        kind = _kind_decoder.decode(record.object)
    except UNDECODABLE as exc:
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
    return _observation(snapshot, kind=kind.kind, observed_at=observed_at, change=change,
                        resource=resource.name)


def _observation(
    snapshot: Snapshot | None, *, kind: str, observed_at: int, change: Change, resource: str
) -> CaptureLine:
    if snapshot is None or not snapshot.metadata.uid:
        raise CaptureLineError(f"{kind} without metadata.uid")
    return CaptureLine(Observation(observed_at, change, resource, snapshot), kind)
