"""Schema-directed decoding of watch lines and List bodies into compact snapshots.

msgspec decodes straight into the Structs of `tracewatch.core.snapshots`, skipping
every field they do not declare; that is what makes it several times faster than a
full JSON parse (see `bench/` and the kube report). Decoders are built once per
snapshot type and reused. For kinds whose snapshot does not read managedFields, a watch
line's managedFields bytes are cut out before decoding (`_without_managed_fields`).

Every malformed input raises `DecodeError` (one type, so callers log, count and
skip); the error text is msgspec's, which names the JSON path, never the payload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

import msgspec

from tracewatch.core.snapshots import (
    DaemonSet,
    Deployment,
    Event,
    Job,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    ReplicaSet,
    Snapshot,
    StatefulSet,
)

__all__ = [
    "SNAPSHOT_TYPES",
    "UNDECODABLE",
    "DecodeError",
    "ListPage",
    "ResourceDecoder",
    "Status",
    "WatchEnvelope",
    "WatchLine",
    "decoder_for",
]

SNAPSHOT_TYPES: dict[str, type[Snapshot]] = {
    # resource (plural) -> compact Struct; a new kind is one line here and one in resources.py
    "pods": Pod,
    "events": Event,
    "persistentvolumeclaims": PersistentVolumeClaim,
    "persistentvolumes": PersistentVolume,
    "nodes": Node,
    "deployments": Deployment,
    "replicasets": ReplicaSet,
    "statefulsets": StatefulSet,
    "daemonsets": DaemonSet,
    "jobs": Job,
}

# Kinds whose watch lines are decoded with managedFields cut out (`_without_managed_fields`),
# by the key the API server writes right after `metadata` (Go writes struct fields in order).
# Never a kind whose snapshot reads managedFields (WorkloadMeta: workloads, claims). Not
# Events either: their one entry (~0.5 KB) costs msgspec less to skip than the cut costs.
_KEY_AFTER_METADATA: dict[type[Snapshot], bytes] = {
    Pod: b"spec",
    Node: b"spec",
    PersistentVolume: b"spec",
}

WatchEventType = Literal["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]
# The types that carry an object, each mapped to itself: a lookup that also types it.
_OBJECT_EVENTS: dict[str, WatchEventType] = {"ADDED": "ADDED", "MODIFIED": "MODIFIED",
                                             "DELETED": "DELETED"}

T = TypeVar("T")


class DecodeError(ValueError):
    """A watch line or List body that cannot be decoded; the message names the JSON path."""


class Status(msgspec.Struct, frozen=True, gc=False):
    """The API's error object (kind Status), as sent in ERROR watch events and error bodies."""

    status: str = ""
    code: int = 0
    reason: str = ""
    message: str = ""


class WatchLine(msgspec.Struct, frozen=True, gc=False):
    """One decoded watch line.

    `obj` is set for ADDED/MODIFIED/DELETED; `resource_version` for those and
    BOOKMARK (may be empty if the server omitted it); `status` for ERROR.
    """

    type: WatchEventType
    resource_version: str = ""
    obj: Snapshot | None = None
    status: Status | None = None


class ListPage(msgspec.Struct, frozen=True, gc=False):
    """One List response: typed items, the list's resourceVersion, the continue token.

    `invalid_items` counts items skipped because they did not decode (the rest are kept).
    """

    items: tuple[Snapshot, ...]
    resource_version: str
    continue_token: str = ""
    invalid_items: int = 0


class _ListMeta(msgspec.Struct, frozen=True, rename="camel", gc=False):
    resource_version: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class WatchEnvelope(msgspec.Struct, Generic[T], gc=False):
    """A watch line as sent: its type and its object (any other key is skipped)."""

    type: str
    object: T


class _ListBody(msgspec.Struct, Generic[T], gc=False):
    metadata: _ListMeta = _ListMeta()
    items: list[T] | None = None


UNDECODABLE = (msgspec.DecodeError, UnicodeDecodeError)
"""What decoding untrusted bytes with msgspec raises: its own errors (ValidationError among
them), and UnicodeDecodeError for a string that is not UTF-8, which msgspec lets through."""

_MANAGED_FIELDS = b',"managedFields":['


def _without_managed_fields(
    decode: Callable[[bytes], WatchEnvelope[Any]], next_key: bytes
) -> Callable[[bytes], WatchEnvelope[Any]]:
    """`decode`, tried first on the line with metadata's managedFields cut out.

    managedFields is a third to a half of a pod line and these snapshots never read it,
    yet msgspec must scan every byte to skip it; two byte searches and one concatenation
    cost far less. The API server writes compact JSON in Go struct order, and managedFields
    is ObjectMeta's last field, so it reads `,"managedFields":[...]},"<next key>":`.

    Why the cut is exact on valid JSON: a raw `"` after a `,` and followed by a plain key
    name and `":` can only open a key (inside a string a quote is escaped), so the array's
    `[` and the `]},"<next key>":` after it are structural. The `]` taken is the first
    after that `[`, so it closes the array itself (fieldsV1 holds only objects), or else
    an array nested in it, and then the cut line is unbalanced and fails to decode.
    Anything else (no such pattern: whitespace, sorted keys, managedFields not last or
    twice, a `]` inside the array; or a failed decode) is decoded whole, so results and
    errors are the full decode's. Not guarded: damage inside the cut bytes, and an
    array-valued `managedFields` annotation; the API server writes neither, and such a
    line would be read as if the key were absent instead of being refused.
    """
    after = b'},"' + next_key + b'":'
    skip = len(_MANAGED_FIELDS)

    def decode_cut(line: bytes) -> WatchEnvelope[Any]:
        start = line.find(_MANAGED_FIELDS)
        if start > 0:
            close = line.find(b"]", start + skip)
            if close > 0 and line.startswith(after, close + 1):
                try:
                    return decode(line[:start] + line[close + 1:])
                except UNDECODABLE:
                    pass
        return decode(line)

    return decode_cut


class ResourceDecoder:
    """Decoders for one snapshot type, built once and reused (msgspec decoders are reentrant)."""

    __slots__ = (
        "_item",
        "_list",
        "_raw_line",
        "_raw_list",
        "_status_line",
        "decode_envelope",
        "envelope_decoder",
        "snapshot_type",
    )

    def __init__(self, snapshot_type: type[Snapshot]) -> None:
        self.snapshot_type = snapshot_type
        self.envelope_decoder: msgspec.json.Decoder[WatchEnvelope[Any]] = msgspec.json.Decoder(
            WatchEnvelope[snapshot_type]  # type: ignore[valid-type]
        )
        # Unchecked: msgspec's errors as they are, the envelope's type as sent; for callers
        # that send every line it does not suit through `decode_line` (capture replay).
        # Same result as `envelope_decoder.decode`, cheaper for kinds in _KEY_AFTER_METADATA.
        self.decode_envelope: Callable[[bytes], WatchEnvelope[Any]] = self.envelope_decoder.decode
        next_key = _KEY_AFTER_METADATA.get(snapshot_type)
        if next_key is not None:
            self.decode_envelope = _without_managed_fields(self.decode_envelope, next_key)
        self._status_line = msgspec.json.Decoder(WatchEnvelope[Status])
        self._list = msgspec.json.Decoder(_ListBody[snapshot_type])  # type: ignore[valid-type]
        self._raw_list = msgspec.json.Decoder(_ListBody[msgspec.Raw])
        self._item = msgspec.json.Decoder(snapshot_type)
        self._raw_line = msgspec.json.Decoder(WatchEnvelope[msgspec.Raw])

    def decode_object(self, raw: bytes) -> Snapshot:
        """Decode one object (not a watch line); raise DecodeError if it does not fit the schema."""
        try:
            obj: Snapshot = self._item.decode(raw)
        except UNDECODABLE as exc:
            raise DecodeError(f"invalid object: {exc}") from None
        return obj

    def raw_object(self, line: bytes) -> bytes:
        """The `object` of a watch line, byte for byte as received (record mode only: a second
        pass over the line). Raise DecodeError for a line without one."""
        try:
            envelope: WatchEnvelope[msgspec.Raw] = self._raw_line.decode(line)
        except UNDECODABLE as exc:
            raise DecodeError(f"malformed watch line: {exc}") from None
        return bytes(envelope.object)

    def decode_list_with_raw(self, body: bytes) -> tuple[ListPage, tuple[bytes, ...]]:
        """Like `decode_list`, plus each kept item's bytes as received (aligned with `items`).

        Record mode only: decodes item by item, several times slower than `decode_list`.
        """
        try:
            parsed: _ListBody[msgspec.Raw] = self._raw_list.decode(body)
        except UNDECODABLE as exc:
            raise DecodeError(f"malformed list body: {exc}") from None
        items: list[Snapshot] = []
        raws: list[bytes] = []
        invalid = 0
        for raw in parsed.items or ():
            try:
                items.append(self._item.decode(raw))
            except UNDECODABLE:
                invalid += 1
                continue
            raws.append(bytes(raw))
        page = ListPage(
            items=tuple(items),
            resource_version=parsed.metadata.resource_version,
            continue_token=parsed.metadata.continue_,
            invalid_items=invalid,
        )
        return page, tuple(raws)

    def decode_line(self, line: bytes) -> WatchLine:
        """Decode one watch line; raise DecodeError if it is not a well-formed watch event."""
        try:
            envelope: WatchEnvelope[Any] = self.decode_envelope(line)
        except msgspec.ValidationError as exc:
            # An ERROR event's object is a Status whose `status` is a string, which fails
            # to decode as a Pod; try that shape before giving up.
            envelope = self._decode_status_line(line, exc)
        except UNDECODABLE as exc:
            raise DecodeError(f"malformed watch line: {exc}") from None
        kind = envelope.type
        object_event = _OBJECT_EVENTS.get(kind)
        if object_event is not None:
            obj = envelope.object
            return WatchLine(object_event, obj.metadata.resource_version, obj)
        if kind == "BOOKMARK":
            # A bookmark's object carries only metadata.resourceVersion (and annotations).
            rv = envelope.object.metadata.resource_version
            return WatchLine(type="BOOKMARK", resource_version=rv)
        if kind == "ERROR":
            if not isinstance(envelope.object, Status):
                # Types without a conflicting `status` field (Event) decode a Status
                # happily; re-decode the rare ERROR line as what it is.
                envelope = self._decode_status_line(line, None)
            return WatchLine(type="ERROR", status=envelope.object)
        raise DecodeError(f"unknown watch event type {kind!r}")

    def decode_list(self, body: bytes) -> ListPage:
        """Decode a List response body; items that fail to decode are skipped and counted.

        Raises DecodeError when the body itself is not a List.
        """
        try:
            parsed: _ListBody[Any] = self._list.decode(body)
            invalid = 0
            items = tuple(parsed.items or ())
        except msgspec.ValidationError:
            # One bad item must not hide the others: fall back to item-by-item (rare path).
            parsed, items, invalid = self._decode_list_leniently(body)
        except UNDECODABLE as exc:
            raise DecodeError(f"malformed list body: {exc}") from None
        return ListPage(
            items=items,
            resource_version=parsed.metadata.resource_version,
            continue_token=parsed.metadata.continue_,
            invalid_items=invalid,
        )

    def _decode_status_line(self, line: bytes, first_error: Exception | None) -> WatchEnvelope[Any]:
        try:
            envelope: WatchEnvelope[Status] = self._status_line.decode(line)
        except UNDECODABLE:
            detail = first_error if first_error is not None else "object is not a Status"
            raise DecodeError(f"invalid watch line: {detail}") from None
        if envelope.type != "ERROR":
            detail = first_error if first_error is not None else "not an ERROR event"
            raise DecodeError(f"invalid watch line: {detail}")
        return envelope

    def _decode_list_leniently(
        self, body: bytes
    ) -> tuple[_ListBody[Any], tuple[Snapshot, ...], int]:
        try:
            parsed: _ListBody[msgspec.Raw] = self._raw_list.decode(body)
        except UNDECODABLE as exc:
            raise DecodeError(f"invalid list body: {exc}") from None
        items: list[Snapshot] = []
        invalid = 0
        for raw in parsed.items or ():
            try:
                items.append(self._item.decode(raw))
            except UNDECODABLE:
                invalid += 1
        return parsed, tuple(items), invalid


_DECODERS: dict[str, ResourceDecoder] = {}


def decoder_for(resource: str) -> ResourceDecoder:
    """The shared decoder for a resource name in SNAPSHOT_TYPES; KeyError for an unknown one."""
    decoder = _DECODERS.get(resource)
    if decoder is None:
        decoder = _DECODERS[resource] = ResourceDecoder(SNAPSHOT_TYPES[resource])
    return decoder
