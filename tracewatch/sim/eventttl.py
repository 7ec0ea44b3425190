"""Events expire as on the real API server: `--event-ttl` (1 h) after their last write.

kube-apiserver stores each Event under an etcd lease of the TTL, renewed by every
write of it (a recorder's count bump too); etcd deletes the key when the lease
runs out, and watchers see the Event's DELETED at a new resourceVersion. etcd3
storage shares one lease among writes up to a minute apart, so an Event goes
between TTL and TTL + 1 min after its last write. Here a sweep every
min(TTL, 60 s) notes the resourceVersion reached; once a note is TTL old, every
Event last written at or before it goes. Without this a simulator under churn
(five Events per pod) would hold every Event it ever wrote.
"""

from __future__ import annotations

import asyncio
from collections import deque

from tracewatch.sim.store import ObjectStore
from tracewatch.sim.tasks import TaskSet

LEASE_REUSE_S = 60.0
"""etcd3 storage's lease reuse window: the most an Event outlives its TTL."""


class EventExpiry:
    """Removes Events `ttl` seconds (loop time) after their last write, in sweeps."""

    def __init__(self, *, store: ObjectStore, tasks: TaskSet, ttl: float) -> None:
        if ttl <= 0:
            raise ValueError("the event TTL must be positive")
        self._store = store
        self._tasks = tasks
        self.ttl = ttl
        self.interval = min(ttl, LEASE_REUSE_S)
        self._notes: deque[tuple[float, int]] = deque()
        """(loop time, the store's resourceVersion then), oldest first."""
        store.track_write_order("events")

    def start(self) -> None:
        """Note the version reached now and sweep every `interval` from here on."""
        self._next()

    def sweep(self, now: float) -> int:
        """Note the version reached at loop time `now`; remove the Events whose last write is
        `ttl` old by then; how many went."""
        store, notes = self._store, self._notes
        notes.append((now, store.rv))  # never removed below: ttl > 0
        gone = 0
        while notes[0][0] <= now - self.ttl:
            _, rv = notes.popleft()
            for key in store.written_up_to("events", rv):
                store.remove("events", key)
                gone += 1
        return gone

    def _next(self) -> None:
        self.sweep(asyncio.get_running_loop().time())
        self._tasks.later(self.interval, self._next)
