"""List paging (`limit` / `continue`): tokens and the consistent snapshots they point into.

The real server answers every page of a paged list from etcd at the first
page's revision, so the pages together are one consistent snapshot. Here the
first page keeps the sorted (key, object) pairs it read (the stored objects
are immutable bytes, so a snapshot is only references) in a small LRU; a later
page whose snapshot was evicted gets 410 Expired, as a compacted revision does.
The token has the real server's shape: base64 of
`{"v":"meta.k8s.io/v1","rv":<revision>,"start":"<namespace>/<name>\\u0000"}`.
"""

from __future__ import annotations

import base64
import binascii
from collections import OrderedDict

import orjson

from tracewatch.sim.errors import ApiError, bad_request
from tracewatch.sim.store import Key, Stored

Snapshot = list[tuple[Key, Stored]]

EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def encode_continue(*, rv: int, last: Key, namespaced: bool) -> str:
    """The token for the page after `last`."""
    start = f"{last[0]}/{last[1]}\x00" if namespaced else f"{last[1]}\x00"
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str, *, namespaced: bool) -> tuple[int, Key]:
    """(revision, last key served); 400 for a token this server did not write."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = orjson.loads(raw)
        rv, start = int(doc["rv"]), str(doc["start"]).rstrip("\x00")
        if doc.get("v") != "meta.k8s.io/v1" or rv < 1:
            raise ValueError(token)
    except (binascii.Error, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion"
        ) from None
    if namespaced:
        namespace, _, name = start.partition("/")
        return rv, (namespace, name)
    return rv, ("", start)


class Snapshots:
    """The last few first-page snapshots, by (resource, namespace, revision)."""

    def __init__(self, *, capacity: int = 16) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[tuple[str, str | None, int], Snapshot] = OrderedDict()

    def keep(self, key: tuple[str, str | None, int], snapshot: Snapshot) -> None:
        self._entries[key] = snapshot
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def find(self, key: tuple[str, str | None, int]) -> Snapshot:
        """The snapshot, or 410 Expired if it has been evicted (or never existed)."""
        snapshot = self._entries.get(key)
        if snapshot is None:
            raise ApiError(code=410, reason="Expired", message=EXPIRED_CONTINUE)
        self._entries.move_to_end(key)
        return snapshot

    def clear(self) -> None:
        """Forget every snapshot (a compaction: every outstanding token expires)."""
        self._entries.clear()
