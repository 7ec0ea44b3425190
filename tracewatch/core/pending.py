"""Events that arrived before their object: held until its lifecycle opens, or dropped.

Watches of different resources deliver in no common order, so a pod's Scheduled
Event may come before the pod itself. Such Events wait here by the involved
object's uid; the engine hands them to the lifecycle when it opens. Events whose
object never shows up (another shard's, or from before we watched) are dropped
once they are older than the TTL, checked only when many uids are waiting.
"""

from __future__ import annotations

from tracewatch.core.snapshots import Event

_PRUNE_AT = 1024  # waiting uids before old ones are looked for


class PendingEvents:
    """uid -> [(received_ns, Event)] in arrival order."""

    __slots__ = ("_by_uid", "ttl_ns")

    def __init__(self, *, ttl_ns: int) -> None:
        self.ttl_ns = ttl_ns
        self._by_uid: dict[str, list[tuple[int, Event]]] = {}

    def add(self, uid: str, event: Event, *, received_ns: int, now_ns: int) -> None:
        if len(self._by_uid) >= _PRUNE_AT:
            horizon = now_ns - self.ttl_ns
            for old in [u for u, evs in self._by_uid.items() if evs[-1][0] < horizon]:
                del self._by_uid[old]
        self._by_uid.setdefault(uid, []).append((received_ns, event))

    def take(self, uid: str) -> list[tuple[int, Event]]:
        """The Events waiting for uid (no longer held here); [] if none."""
        return self._by_uid.pop(uid, [])

    def discard(self, uid: str) -> None:
        self._by_uid.pop(uid, None)
