"""One watch stream: initial state or replay, then live events, bookmarks and a timeout.

A Watcher is filled synchronously by the store (its `offer` never blocks the
writer) and drained by the HTTP handler's task, which writes the shared,
pre-encoded lines of each entry; selectors decide per watcher whether an entry
is an ADDED, MODIFIED or DELETED for it, as the real watch cache does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable

import orjson

from tracewatch.sim.errors import bad_request, expired
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.selectors import Selectable, Selector
from tracewatch.sim.store import Expired, ObjectStore, WatchEntry

_IDLE_CHECK_S = 1.0
"""How often an idle watcher checks that its client is still connected."""


def parse_resource_version(value: str | None) -> int | None:
    """None for "start from the current state" (unset or "0"), else the integer version."""
    if value in (None, "", "0"):
        return None
    try:
        rv = int(value)
    except ValueError:
        raise bad_request(f"invalid resource version: {value!r}") from None
    if rv < 0:
        raise bad_request(f"invalid resource version: {value!r}")
    return rv


class Watcher:
    """A single client's watch on one resource (optionally one namespace)."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        info: ResourceInfo,
        namespace: str | None,
        labels: Selector,
        fields: Selector,
        bookmarks: bool,
        bookmark_interval: float,
        timeout: float | None,
        max_backlog: int,
    ) -> None:
        self._store = store
        self._info = info
        self._namespace = namespace
        self._labels = labels
        self._fields = fields
        self._filtered = not (labels.empty and fields.empty)
        self._bookmarks = bookmarks
        self._bookmark_interval = bookmark_interval
        self._timeout = timeout
        self._max_backlog = max_backlog
        self._pending: deque[WatchEntry] = deque()
        self._initial: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._last_rv = 0
        self.closed = False
        self.close_reason = ""

    # called by the store, synchronously, inside the writer

    def offer(self, entry: WatchEntry) -> None:
        if self.closed or (self._namespace is not None and entry.namespace != self._namespace):
            return
        self._pending.append(entry)
        if len(self._pending) > self._max_backlog:
            # The real cacher closes watchers that cannot keep up rather than buffer forever.
            self.close(reason="backlog")
        self._wakeup.set()

    def close(self, *, reason: str) -> None:
        """End the stream (cleanly, as a server-side close) at the next opportunity."""
        if not self.closed:
            self.closed = True
            self.close_reason = reason
            self._pending.clear()
            self._wakeup.set()

    # setup, synchronous so that no write falls between the snapshot and the subscription

    def start(
        self, resource_version: str | None, *, send_initial_events: bool | None = None
    ) -> None:
        """Queue the initial state (rv unset/0) or the replay after rv, then subscribe.

        `send_initial_events` (the WatchList protocol, with resourceVersionMatch=NotOlderThan):
        True sends the current state as ADDED events whatever rv is (this store is never
        older than any version it handed out), then a BOOKMARK annotated
        `k8s.io/initial-events-end: "true"`; False with rv unset/0 starts from now with
        no initial events; None is the legacy behaviour.
        """
        rv = parse_resource_version(resource_version)
        if send_initial_events is False and rv is None:
            self._last_rv = self._store.rv
        elif rv is None or send_initial_events:
            self._last_rv = self._store.rv
            self._initial = [
                b'{"type":"ADDED","object":' + s.data + b"}\n"
                for s in self._store.items(self._info.name, namespace=self._namespace)
                if self._matches(s.view)
            ]
            if send_initial_events:
                self._initial.append(self._bookmark(initial_events_end=True))
        else:
            try:
                replay = self._store.since(self._info.name, rv)
            except Expired as err:
                # In-stream, with a 200 response: what the real server does for a watch.
                error = expired(requested=err.requested, oldest=err.oldest)
                self._initial = [b'{"type":"ERROR","object":' + orjson.dumps(error) + b"}\n"]
                self.close(reason="expired")
                return
            self._last_rv = rv
            for entry in replay:
                self.offer(entry)
        self._store.subscribe(self._info.name, self)

    # draining, in the HTTP handler's task

    def _matches(self, view: Selectable) -> bool:
        return self._labels.matches(view) and self._fields.matches(view)

    def _pieces(self, entry: WatchEntry) -> tuple[bytes, bytes, bytes] | None:
        if not self._filtered:
            return entry.pieces(entry.type)
        now = entry.type != "DELETED" and self._matches(entry.view)
        before = entry.prev_view is not None and self._matches(entry.prev_view)
        if now:
            return entry.pieces("MODIFIED" if before else "ADDED")
        return entry.pieces("DELETED") if before else None

    def _bookmark(self, *, initial_events_end: bool = False) -> bytes:
        # With nothing queued, everything up to the store's current version has been
        # delivered (writes and offers are synchronous), so that is a safe cursor.
        rv = self._store.rv if not self._pending else self._last_rv
        metadata: dict[str, object] = {"resourceVersion": str(rv)}
        if initial_events_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        obj = {"kind": self._info.kind, "apiVersion": self._info.api_version, "metadata": metadata}
        return b'{"type":"BOOKMARK","object":' + orjson.dumps(obj) + b"}\n"

    async def stream(
        self, *, client_gone: Callable[[], bool] | None = None
    ) -> AsyncIterator[bytes]:
        """Chunks of watch lines until timeout, close, or the client leaving."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + self._timeout if self._timeout is not None else None
        next_bookmark = now + self._bookmark_interval if self._bookmarks else None
        try:
            if self._initial:
                chunk, self._initial = b"".join(self._initial), []
                yield chunk
            while not self.closed:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    return
                if self._pending:
                    pieces: list[bytes] = []
                    while self._pending:
                        entry = self._pending.popleft()
                        self._last_rv = entry.rv
                        line = self._pieces(entry)
                        if line is not None:
                            pieces.extend(line)
                    if pieces:
                        yield b"".join(pieces)
                    continue
                if next_bookmark is not None and now >= next_bookmark:
                    next_bookmark = now + self._bookmark_interval
                    yield self._bookmark()
                    continue
                if client_gone is not None and client_gone():
                    return
                wake_at = min(
                    t for t in (deadline, next_bookmark, now + _IDLE_CHECK_S) if t is not None
                )
                self._wakeup.clear()
                if self._pending or self.closed:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=max(wake_at - now, 0))
        finally:
            self._store.unsubscribe(self._info.name, self)
