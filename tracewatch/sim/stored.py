"""A stored object's bytes (`Stored`) and how objects are encoded into them.

A write is serialized once, in canonical order; its managedFields and (for an
object whose keys end in spec, status) its status are spans of those bytes that
later writes re-encode or splice in place of a whole re-encode, and that drafts
for writers decode apart (a writer rarely needs all of an object).
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec
import orjson

from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.selectors import Selectable, selectable


class _ManagedEntry(TypedDict, total=False):
    """A managedFields entry as a draft holds it: fieldsV1 left encoded."""

    manager: Any
    operation: Any
    apiVersion: Any
    time: Any
    fieldsType: Any
    fieldsV1: msgspec.Raw
    subresource: Any


_DRAFT_ENTRIES = msgspec.json.Decoder(list[_ManagedEntry])
_ENTRIES = msgspec.json.Encoder()
"""Encodes managedFields: a draft's `msgspec.Raw` fieldsV1 go back as they were, with no
Python callback (entries hold only strings and sets: the bytes are orjson's)."""
FIELDS_KEY = b',"managedFields":'
STATUS_KEY = b',"status":'
_SPEC_KEY = b',"spec":'
_WITH_STATUS = ("kind", "apiVersion", "metadata", "spec", "status")
"""The top-level keys of an object whose status is split out (see `Stored`)."""
_OBJECT_HEADS: dict[str, bytes] = {}


def object_head(info: ResourceInfo) -> bytes:
    """How the resource's canonical bytes start: `{"kind":..,"apiVersion":..,"metadata":`."""
    head = _OBJECT_HEADS.get(info.name)
    if head is None:
        head = _OBJECT_HEADS[info.name] = info.item_prefix + b'"metadata":'
    return head


def _encoded(value: Any) -> Any:
    """orjson's fallback: a draft's still-encoded fieldsV1 is written back as it was."""
    if value.__class__ is msgspec.Raw:
        return orjson.Fragment(bytes(value))
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


class Stored:
    """One stored object: its JSON bytes, uid and selector view.

    Only bytes are kept, not the decoded dict: millions of small dicts held for
    the process lifetime would make every garbage-collector pass slow, which
    throttles every write. `obj` decodes a private copy on demand; `draft` a
    cheaper one for writers. `fields_at`..`fields_end` is where
    `,"managedFields":[...]` sits in `data` (0, 0: not split out); `status_at`
    where `,"status":{...}` starts (0: not split out; split out only when the
    object's keys are kind, apiVersion, metadata, spec, status in that order).
    """

    __slots__ = ("_view", "data", "fields_at", "fields_end", "info", "rv", "status_at", "uid")

    def __init__(
        self,
        data: bytes,
        *,
        rv: int,
        uid: str,
        info: ResourceInfo,
        view: Selectable | None = None,
        fields_at: int = 0,
        fields_end: int = 0,
        status_at: int = 0,
    ) -> None:
        self.data = data
        self.rv = rv
        self.uid = uid
        self.info = info
        self._view = view
        self.fields_at = fields_at
        self.fields_end = fields_end
        self.status_at = status_at

    @property
    def view(self) -> Selectable:
        """What selectors match against, worked out on first need.

        Most writes are never matched against a selector (watchers and lists
        without one, Events nobody filters), so this is not paid on every write.
        """
        view = self._view
        if view is None:
            view = self._view = selectable(self.info, orjson.loads(self.data))
        return view

    @property
    def obj(self) -> dict[str, Any]:
        """A freshly decoded copy of the object, free to mutate."""
        return orjson.loads(self.data)

    def draft(self, *, entries: bool = True, decoded: list[Any] | None = None) -> dict[str, Any]:
        """A private copy to modify and store again (`ObjectStore.put`, `remove`).

        As `obj`, except that each managedFields entry's `fieldsV1` stays encoded
        (a `msgspec.Raw`, written back as it was): those sets are half of a pod's
        bytes and no writer reads them, so this decodes about a third faster. With
        `entries=False` (a write that records no managedFields entry) the whole
        managedFields list stays encoded. `decoded`: the entries, already decoded
        (see `ObjectStore.draft`), taken instead of decoding them.
        """
        start, end = self.fields_at, self.fields_end
        if not end:
            return orjson.loads(self.data)
        data = self.data
        obj: dict[str, Any] = orjson.loads(data[:start] + data[end:])
        obj["metadata"]["managedFields"] = self._entries(entries, decoded)
        return obj

    def status_draft(
        self, *, entries: bool = True, decoded: list[Any] | None = None
    ) -> dict[str, Any]:
        """As `draft`, for a /status write: `spec` stays encoded (an `orjson.Fragment`).

        A /status write keeps the stored spec whatever the writer sends (see
        `ObjectStore.put_status`), so a third of the object need not be decoded.
        """
        start, status_at = self.fields_at, self.status_at
        if not status_at:
            return self.draft(entries=entries, decoded=decoded)
        data = self.data
        meta: dict[str, Any] = orjson.loads(data[len(object_head(self.info)) : start] + b"}")
        meta["managedFields"] = self._entries(entries, decoded)
        status = orjson.loads(data[status_at + len(STATUS_KEY) : -1])
        return self.assembled(meta, status, spec=False)

    def metadata_draft(self, meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """As `draft(entries=False)`, for a write of metadata alone (a deletion mark): spec
        and status stay encoded too. `meta`: the metadata, already decoded."""
        status_at = self.status_at
        if not status_at:
            return self.draft(entries=False)
        data = self.data
        if meta is None:
            meta = orjson.loads(data[len(object_head(self.info)) : self.fields_at] + b"}")
        meta["managedFields"] = self.entries_encoded()
        status = orjson.Fragment(data[status_at + len(STATUS_KEY) : -1])
        return self.assembled(meta, status, spec=False)

    def assembled(self, meta: dict[str, Any], status: Any, *, spec: bool) -> dict[str, Any]:
        """A draft of an object whose status is split out, from its decoded metadata and
        status: its spec decoded (`spec`) or left encoded (an `orjson.Fragment`)."""
        info, data = self.info, self.data
        spec_json = data[self.fields_end + 1 + len(_SPEC_KEY) : self.status_at]
        return {
            "kind": info.kind,
            "apiVersion": info.api_version,
            "metadata": meta,
            "spec": orjson.loads(spec_json) if spec else orjson.Fragment(spec_json),
            "status": status,
        }

    def _entries(self, entries: bool, decoded: list[Any] | None) -> Any:
        """managedFields for a draft (the entries, fieldsV1 encoded; or all of it encoded)."""
        if not entries:
            return self.entries_encoded()
        if decoded is not None:
            return decoded
        return _DRAFT_ENTRIES.decode(self.data[self.fields_at + len(FIELDS_KEY) : self.fields_end])

    def entries_encoded(self) -> msgspec.Raw:
        """managedFields left encoded whole, for a draft of a write that records no entry."""
        return msgspec.Raw(self.data[self.fields_at + len(FIELDS_KEY) : self.fields_end])


def _encode(info: ResourceInfo, obj: dict[str, Any]) -> tuple[bytes, int, int, int]:
    """The canonical object's bytes, where its managedFields sit and where its status starts.

    managedFields is written separately and spliced in as the last key of
    metadata (its place in the Go struct), so its span is known without a search;
    so is a status, the last key (see `ObjectStore.put_status`).
    """
    meta = obj["metadata"]
    entries = meta.get("managedFields")
    if (
        info.name == "events"  # written once, hardly ever drafted: not worth splitting
        or not entries
        or len(meta) < 2
        or next(reversed(meta)) != "managedFields"
    ):
        return orjson.dumps(obj, default=_encoded), 0, 0, 0
    meta_json, fields_json = metadata_parts(meta, entries)
    obj["metadata"] = orjson.Fragment(meta_json[:-1] + FIELDS_KEY + fields_json + b"}")
    status = obj.get("status")
    status_json = b""
    if status.__class__ is dict and tuple(obj) == _WITH_STATUS:
        status_json = orjson.dumps(status)
        obj["status"] = orjson.Fragment(status_json)
    elif status.__class__ is orjson.Fragment and tuple(obj) == _WITH_STATUS:
        status_json = orjson.dumps(status)  # left encoded by its draft: its bytes as they were
    data = orjson.dumps(obj)
    obj["metadata"] = meta
    if status_json:
        obj["status"] = status
    start = len(object_head(info)) + len(meta_json) - 1
    status_at = len(data) - 1 - len(status_json) - len(STATUS_KEY) if status_json else 0
    return data, start, start + len(FIELDS_KEY) + len(fields_json), status_at


def metadata_parts(meta: dict[str, Any], entries: list[Any]) -> tuple[bytes, bytes]:
    """metadata's bytes without its managedFields (its last key, `entries`), and theirs."""
    del meta["managedFields"]
    meta_json = orjson.dumps(meta)
    meta["managedFields"] = entries
    return meta_json, _ENTRIES.encode(entries)


def restamped(stored: Stored, rv: int) -> Stored | None:
    """`stored` at resourceVersion `rv`, patched in its bytes (None if they are not as expected).

    metadata.resourceVersion is the first "resourceVersion" in canonical bytes (only
    kind, apiVersion, name, generateName, namespace, selfLink and uid come before it).
    """
    old, new = b'"resourceVersion":"%d"' % stored.rv, b'"resourceVersion":"%d"' % rv
    data = stored.data
    at = data.find(old)
    if at < 0 or (stored.fields_end and at > stored.fields_at):
        return None
    shift = len(new) - len(old)
    return Stored(
        data[:at] + new + data[at + len(old) :],
        rv=rv,
        uid=stored.uid,
        info=stored.info,
        view=stored._view,
        fields_at=stored.fields_at + shift if stored.fields_end else 0,
        fields_end=stored.fields_end + shift if stored.fields_end else 0,
        status_at=stored.status_at + shift if stored.status_at else 0,
    )


def stored_anew(
    info: ResourceInfo, obj: dict[str, Any], *, rv: int, uid: str, view: Selectable | None
) -> Stored:
    """`obj` (canonical) stored at resourceVersion `rv`."""
    obj["metadata"]["resourceVersion"] = str(rv)
    data, fields_at, fields_end, status_at = _encode(info, obj)
    return Stored(
        data,
        rv=rv,
        uid=uid,
        info=info,
        view=view,
        fields_at=fields_at,
        fields_end=fields_end,
        status_at=status_at,
    )
