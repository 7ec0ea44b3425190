"""The object store: every resource's objects, one global resourceVersion, watch history.

A write hands the store a fresh dict (a cheap deep copy of a stored object is
`orjson.loads` of its bytes); the store stamps the next resourceVersion,
serializes it once, keeps only the bytes and a small selector view, and hands
the same bytes to every watcher and every list. Writers never wait for watchers:
each watcher has its own queue, filled synchronously here and drained by its own
task.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol

import orjson

from tracewatch.sim.objects import memo_put
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.selectors import Selectable
from tracewatch.sim.stored import (
    FIELDS_KEY,
    STATUS_KEY,
    Stored,
    metadata_parts,
    object_head,
    restamped,
    stored_anew,
)

Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped resources."""

_METADATA_ORDER = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)


_KEPT = 8192
"""What a write hands on is kept only for an object's latest version, so this bounds it by
objects written through /status and not since: a churn of 500 pods/s has ~2500 in flight.
Past it (many idle objects) the oldest go; their next draft decodes them, as any other does."""


class _Kept(NamedTuple):
    """What a write hands on to the next draft of the version it stored (`ObjectStore.draft`)."""

    entries: list[Any]
    """The managedFields entries, as a draft holds them."""
    meta: dict[str, Any] | None = None
    """A pod's /status write (`put_status(..., hand_on=True)`): its metadata as written
    (`entries` its managedFields) and its status."""
    status: Any = None


_HEADS = {t: b'{"type":"' + t.encode() + b'","object":' for t in ("ADDED", "MODIFIED", "DELETED")}
_TAIL = b"}\n"


class WatchEntry:
    """One write as watchers see it: the object's bytes, shared by every watcher, and views."""

    __slots__ = ("_retyped_deletion", "namespace", "previous", "resource", "rv", "stored", "type")

    def __init__(
        self,
        *,
        rv: int,
        resource: str,
        type_: str,
        namespace: str,
        stored: Stored,
        previous: Stored | None,
    ) -> None:
        self.rv = rv
        self.resource = resource
        self.type = type_
        self.namespace = namespace
        self.stored = stored
        self.previous = previous
        self._retyped_deletion: bytes | None = None

    @property
    def data(self) -> bytes:
        return self.stored.data

    @property
    def view(self) -> Selectable:
        return self.stored.view

    @property
    def prev_view(self) -> Selectable | None:
        return None if self.previous is None else self.previous.view

    def pieces(self, type_: str) -> tuple[bytes, bytes, bytes]:
        """The watch line announcing this write as `type_` (selectors may retype it), in pieces.

        A MODIFIED write that moves an object out of a watcher's selector is a
        DELETED for that watcher, carrying the previous content at the new
        resourceVersion (as the real watch cache does); that content is encoded
        once, on first need. Any other retyping keeps the current content.
        """
        if type_ == "DELETED" and self.type != "DELETED" and self.previous is not None:
            if self._retyped_deletion is None:
                old = orjson.loads(self.previous.data)
                old["metadata"]["resourceVersion"] = str(self.rv)
                self._retyped_deletion = orjson.dumps(old)
            return _HEADS[type_], self._retyped_deletion, _TAIL
        return _HEADS[type_], self.stored.data, _TAIL

    def line(self, type_: str) -> bytes:
        return b"".join(self.pieces(type_))


class Subscriber(Protocol):
    """Anything that takes watch entries without blocking (a watcher's queue)."""

    def offer(self, entry: WatchEntry) -> None: ...


Listener = Callable[[str, dict[str, Any]], None]
"""An in-process observer (the control plane), called synchronously after each write with
the watch type and the object as written (for DELETED: its last state). It must not keep
or mutate the dict, nor write to the store from inside the call. After a pod's /status
write, `spec` is still encoded (an `orjson.Fragment`, see `Stored.status_draft`): the spec
did not change, and a listener that needs it reads it from the store. So it is in the
DELETED of a pod whose last write was through /status (a listener that needs a deleted
pod's spec keeps what it needs of it from the pod's earlier writes), and in a pod's
deletion mark (`Registry.delete`), where its status is still encoded too."""


class Expired(Exception):
    """A watch asked for a resourceVersion older than the history holds."""

    def __init__(self, *, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


def _canonical(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """kind and apiVersion first, then metadata, with metadata keys in the Go struct's order.

    A rewrite of a stored object usually is so already (a draft keeps the order) and is
    returned as it is."""
    meta = obj.get("metadata") or {}
    if obj.get("kind") == info.kind and obj.get("apiVersion") == info.api_version:
        keys = iter(obj)
        if next(keys) == "kind" and next(keys) == "apiVersion" and next(keys) == "metadata":
            order = tuple(meta)
            in_order = _IN_ORDER.get(order)
            if in_order is None:
                in_order = memo_put(_IN_ORDER, order, order == tuple(_ordered_keys(order)))
            if in_order:
                return obj
    ordered_meta = {k: meta[k] for k in _METADATA_ORDER if k in meta}
    if len(ordered_meta) != len(meta):
        ordered_meta.update((k, v) for k, v in meta.items() if k not in ordered_meta)
    out: dict[str, Any] = {
        "kind": info.kind,
        "apiVersion": info.api_version,
        "metadata": ordered_meta,
    }
    for k, v in obj.items():
        if k not in out:
            out[k] = v
    return out


def _ordered_keys(keys: tuple[str, ...]) -> list[str]:
    known = [k for k in _METADATA_ORDER if k in keys]
    return known + [k for k in keys if k not in _METADATA_RANK]


_METADATA_RANK = frozenset(_METADATA_ORDER)
_IN_ORDER: dict[tuple[str, ...], bool] = {}
"""metadata's keys (in their order) -> whether that is the Go struct's order."""


class ObjectStore:
    """All objects of all resources, a global resourceVersion, and per-resource watch history."""

    def __init__(self, *, resources: Mapping[str, ResourceInfo], history_size: int) -> None:
        if history_size < 1:
            raise ValueError("history_size must be at least 1")
        self.resources = dict(resources)
        self.rv = 1
        self._objects: dict[str, dict[Key, Stored]] = {r: {} for r in self.resources}
        self._history: dict[str, deque[WatchEntry]] = {
            r: deque(maxlen=history_size) for r in self.resources
        }
        # Every write of the resource with rv > window start is still in its history.
        self._window_start: dict[str, int] = dict.fromkeys(self.resources, 0)
        self._subscribers: dict[str, set[Subscriber]] = {r: set() for r in self.resources}
        self._listeners: dict[str, list[Listener]] = {r: [] for r in self.resources}
        self._status_listeners: dict[str, list[Listener]] = {r: [] for r in self.resources}
        """Those of `_listeners` also told of /status writes (see `listen`)."""
        self._kept: dict[Stored, _Kept] = {}
        """What a /status write stored, kept for the next draft of that version (see
        `draft`); at most `_KEPT`, the oldest dropped first."""
        self._write_order: dict[str, dict[Key, int]] = {}
        """For resources that `track_write_order`: key -> resourceVersion of its last write,
        oldest write first (a rewrite moves the key to the end)."""

    # reads

    def get(self, resource: str, key: Key) -> Stored | None:
        return self._objects[resource].get(key)

    def copy(self, resource: str, key: Key) -> dict[str, Any] | None:
        """A private deep copy of the stored object, free to mutate."""
        stored = self._objects[resource].get(key)
        return None if stored is None else stored.obj

    def items(self, resource: str, *, namespace: str | None = None) -> list[Stored]:
        """Objects in key order (namespace, then name), as etcd returns them."""
        objects = self._objects[resource]
        keys = sorted(k for k in objects if namespace is None or k[0] == namespace)
        return [objects[k] for k in keys]

    def keyed(self, resource: str, *, namespace: str | None = None) -> list[tuple[Key, Stored]]:
        """(key, object) pairs in key order: a consistent snapshot at the current version."""
        objects = self._objects[resource]
        return sorted(
            (kv for kv in objects.items() if namespace is None or kv[0][0] == namespace),
            key=lambda kv: kv[0],
        )

    def count(self, resource: str) -> int:
        return len(self._objects[resource])

    def track_write_order(self, resource: str) -> None:
        """Keep the order in which `resource`'s objects were last written (see `written_up_to`)."""
        if resource not in self._write_order:
            by_rv = sorted(self._objects[resource].items(), key=lambda kv: kv[1].rv)
            self._write_order[resource] = {key: stored.rv for key, stored in by_rv}

    def written_up_to(self, resource: str, rv: int) -> list[Key]:
        """Keys of the objects last written at or before `rv`, oldest write first (a tracked
        resource: `track_write_order`)."""
        keys = []
        for key, written in self._write_order[resource].items():
            if written > rv:
                break
            keys.append(key)
        return keys

    def draft(
        self, stored: Stored, *, entries: bool = True, status: bool = False, metadata: bool = False
    ) -> dict[str, Any]:
        """`stored.draft(entries=...)` (`status_draft` with `status`, `metadata_draft` with
        `metadata`), for a write to take.

        A writer often drafts the version its own /status write stored (a kubelet
        writes a pod's status several times in a row): that write's managedFields
        entries are handed on as they were encoded rather than decoded again, and
        after a pod's /status write its metadata and status too (only the spec is
        decoded, if asked for). Each is handed on once (the write takes them), and
        only if no write came between; no writer mutates an entry in place
        (`objects.touch_managed_fields` replaces its own), no listener keeps or
        mutates what it is shown (see `Listener`) and the writer that handed them
        on keeps nothing of them (see `put_status`), so they are as good as freshly
        decoded.
        """
        kept = self._kept.pop(stored, None) if self._kept else None
        if metadata:
            return stored.metadata_draft(None if kept is None else kept.meta)
        if kept is None:
            return stored.status_draft(entries=entries) if status else stored.draft(entries=entries)
        meta = kept.meta
        if meta is not None:
            meta["managedFields"] = list(kept.entries) if entries else stored.entries_encoded()
            return stored.assembled(meta, kept.status, spec=not status)
        decoded = list(kept.entries) if entries else None
        if status:
            return stored.status_draft(entries=entries, decoded=decoded)
        return stored.draft(entries=entries, decoded=decoded)

    def _keep(self, stored: Stored, kept: _Kept) -> None:
        store = self._kept
        store[stored] = kept
        if len(store) > _KEPT:
            del store[next(iter(store))]

    # writes

    def put(self, resource: str, obj: dict[str, Any], *, status_write: bool = False) -> Stored:
        """Create or replace the object named by its metadata; the store owns `obj` afterwards.

        `status_write`: a write through the /status subresource (see `listen`)."""
        info = self.resources[resource]
        meta = obj["metadata"]
        key = (meta.get("namespace", "") if info.namespaced else "", meta["name"])
        previous = self._objects[resource].get(key)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)  # before ordering: its place is after uid
        obj = _canonical(info, obj)
        stored = stored_anew(info, obj, rv=self.rv, uid=meta.get("uid", ""), view=None)
        if previous is not None and self._kept:
            kept = self._kept.pop(previous, None)
            # A write that kept managedFields as they were (e.g. a binding) hands them on.
            if (
                kept is not None
                and stored.data[stored.fields_at : stored.fields_end]
                == previous.data[previous.fields_at : previous.fields_end]
            ):
                self._keep(stored, _Kept(kept.entries))
        return self._written(resource, key, stored, previous, obj, status_write=status_write)

    def put_new(self, resource: str, key: Key, uid: str, encode: Callable[[int], bytes]) -> Stored:
        """Store a new object its writer encodes itself: `encode(rv)` gives its canonical bytes.

        For a writer that creates many objects of one fixed shape (the event recorders)
        and can spell their bytes out faster than a dict is ordered and encoded. The
        caller has checked that `key` is free. Listeners, if any, get a decoded copy.
        """
        self.rv += 1
        stored = Stored(encode(self.rv), rv=self.rv, uid=uid, info=self.resources[resource])
        return self._written(resource, key, stored, None, None)

    def put_status(
        self,
        resource: str,
        key: Key,
        current: Stored,
        obj: dict[str, Any],
        *,
        hand_on: bool = False,
    ) -> Stored:
        """A /status write of `obj`, a draft of `current` (the stored object).

        Every real status strategy keeps the stored spec whatever the writer sent;
        so does this, splicing the stored bytes of everything between metadata
        and status (the spec) between the newly encoded metadata and status.
        `hand_on`: the writer keeps no reference into `obj`'s metadata and status
        and put in them only what JSON decodes to (no tuple, no value twice), so
        the next draft of the stored version may take them as they are.
        """
        info = self.resources[resource]
        status = obj.get("status")
        if not current.status_at or status.__class__ is not dict:
            return self.put(resource, obj, status_write=True)
        obj = _canonical(info, obj)
        meta = obj["metadata"]
        entries = meta.get("managedFields")
        if not entries or next(reversed(meta)) != "managedFields":
            return self.put(resource, obj, status_write=True)
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        meta_json, fields_json = metadata_parts(meta, entries)
        head = object_head(info)
        fields_at = len(head) + len(meta_json) - 1
        fields_end = fields_at + len(FIELDS_KEY) + len(fields_json)
        # "}" closing metadata, then the spec: a view, copied once (into the new bytes).
        middle = memoryview(current.data)[current.fields_end : current.status_at]
        pieces = (head, meta_json[:-1], FIELDS_KEY, fields_json, middle, STATUS_KEY)
        stored = Stored(
            b"".join((*pieces, orjson.dumps(status), b"}")),
            rv=self.rv,
            uid=current.uid,
            info=info,
            fields_at=fields_at,
            fields_end=fields_end,
            status_at=fields_end + len(middle),
        )
        self._kept.pop(current, None)
        if entries.__class__ is list:  # not left encoded whole (a write recording no fields)
            self._keep(stored, _Kept(entries, meta, status) if hand_on else _Kept(entries))
        return self._written(resource, key, stored, current, obj, status_write=True)

    def _written(
        self,
        resource: str,
        key: Key,
        stored: Stored,
        previous: Stored | None,
        obj: dict[str, Any] | None,
        *,
        status_write: bool = False,
    ) -> Stored:
        self._objects[resource][key] = stored
        order = self._write_order.get(resource)
        if order is not None:
            order.pop(key, None)
            order[key] = self.rv
        entry = WatchEntry(
            rv=self.rv,
            resource=resource,
            type_="MODIFIED" if previous is not None else "ADDED",
            namespace=key[0],
            stored=stored,
            previous=previous,
        )
        self._publish(entry, obj, status_write=status_write)
        return stored

    def remove(self, resource: str, key: Key) -> Stored | None:
        """Delete the object; watchers get its last state at a new resourceVersion."""
        previous = self._objects[resource].pop(key, None)
        if previous is None:
            return None
        order = self._write_order.get(resource)
        if order is not None:
            del order[key]
        kept = self._kept.pop(previous, None) if self._kept else None
        self.rv += 1
        stored = restamped(previous, self.rv) or stored_anew(
            self.resources[resource],
            previous.draft(entries=False),
            rv=self.rv,
            uid=previous.uid,
            view=previous._view,
        )
        final = None  # decoded by `_publish` if someone listens
        if kept is not None and kept.meta is not None and stored.status_at:
            kept.meta["resourceVersion"] = str(self.rv)
            kept.meta["managedFields"] = stored.entries_encoded()
            final = stored.assembled(kept.meta, kept.status, spec=False)
        entry = WatchEntry(
            rv=self.rv,
            resource=resource,
            type_="DELETED",
            namespace=key[0],
            stored=stored,
            previous=previous,
        )
        self._publish(entry, final)
        return stored

    def _publish(
        self, entry: WatchEntry, obj: dict[str, Any] | None, *, status_write: bool = False
    ) -> None:
        """Record the write in the history, offer it to watchers, tell listeners.

        `obj`: the object as written, or None to have it decoded only if someone listens
        (as a draft: managedFields, where split out, left encoded; no listener reads them).
        """
        history = self._history[entry.resource]
        if len(history) == history.maxlen:
            self._window_start[entry.resource] = history[0].rv
        history.append(entry)
        for subscriber in self._subscribers[entry.resource]:
            subscriber.offer(entry)
        listeners = (self._status_listeners if status_write else self._listeners)[entry.resource]
        if listeners:
            if obj is None:
                obj = entry.stored.draft(entries=False)
            for listener in listeners:
                listener(entry.type, obj)

    # watching

    def since(self, resource: str, rv: int) -> list[WatchEntry]:
        """The resource's writes after `rv`, oldest first; raises Expired if some are gone."""
        oldest = self._window_start[resource]
        if rv < oldest:
            raise Expired(requested=rv, oldest=oldest)
        history = self._history[resource]
        if not history or history[-1].rv <= rv:
            return []
        return [e for e in history if e.rv > rv]

    def subscribe(self, resource: str, subscriber: Subscriber) -> None:
        self._subscribers[resource].add(subscriber)

    def unsubscribe(self, resource: str, subscriber: Subscriber) -> None:
        self._subscribers[resource].discard(subscriber)

    def subscribers(self, resource: str | None = None) -> Iterable[Subscriber]:
        """Current watchers (of one resource, or all)."""
        names = [resource] if resource else list(self._subscribers)
        return [s for n in names for s in self._subscribers[n]]

    def listen(self, resource: str, listener: Listener, *, status_writes: bool = True) -> None:
        """Call `listener` synchronously after every write of `resource` (see `Listener`).

        `status_writes=False`: not after writes through the /status subresource, for a
        listener that reads neither status nor managedFields (all such a write changes).
        """
        self._listeners[resource].append(listener)
        if status_writes:
            self._status_listeners[resource].append(listener)

    def unlisten(self, resource: str, listener: Listener) -> None:
        for listeners in (self._listeners[resource], self._status_listeners[resource]):
            if listener in listeners:
                listeners.remove(listener)

    def compact(self, resource: str | None = None) -> None:
        """Forget the watch history (of one resource or all), as an etcd compaction does."""
        for name in [resource] if resource else list(self._history):
            self._history[name].clear()
            self._window_start[name] = self.rv
