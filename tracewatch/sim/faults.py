"""Fault injection: what a real API server, its network and its etcd do to watchers.

`SimCluster.faults` is a `Faults`; tests (and `tracewatch sim` flags) flip its
switches while clients watch over HTTP:

- `drop_watches`: abort open watch connections (all, or one resource's) without
  a clean end, as a load balancer or a crashing server does;
- `compact`: etcd compaction; a watch resuming from before it gets 410 Expired;
- `restart`: the API server restarts with its watch cache empty: every watch is
  dropped and the history of every resource is gone. resourceVersions keep
  increasing, as they do after a real restart (etcd keeps its revision; only a
  restore from backup goes back, and that is outside what clients can survive
  without a relist anyway, which the compaction forces here too);
- `fail`: the next N list and/or watch requests answer 500, 503 or 429 (with
  Retry-After and `details.retryAfterSeconds`, as API Priority and Fairness does);
- `malformed`: a garbage line (truncated JSON, an HTML error page, an object
  missing its uid, a wrong-typed field) is put before each of the next N chunks
  of open and new streams; the real data still follows, so nothing is lost;
- `stall_watches`: streams open now go silent (no events, no bookmarks) but stay
  open, until the client gives up; new watches are served normally;
- `delay`: every chunk of one resource's streams is held back, which reorders
  delivery across resource types (never within one).

`WriteLog` is the audit tests compare a client's observations with: every
(resource, type, uid, resourceVersion) the store wrote, from its creation on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

from tracewatch.sim.errors import status
from tracewatch.sim.store import ObjectStore

__all__ = ["Faults", "Write", "WriteLog"]

Verb = Literal["list", "watch", "get", "write", "any"]

MALFORMED_LINES: tuple[bytes, ...] = (
    b'{"type":"MODIFIED","object":{"kind":"Pod","metadata":{"name":"trunc',
    b"<html><body>502 Bad Gateway</body></html>",
    b'{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"ghost"}}}',
    b'{"type":"ADDED","object":{"metadata":{"name":7,"uid":["x"]}}}',
    b'{"type":"SURPRISE","object":{}}',
)
"""Kinds of garbage seen in the wild; each watcher cycles through them."""

_REASONS = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable"}
_STALL_POLL_S = 0.05


@dataclass(slots=True)
class _Failure:
    code: int
    verb: Verb
    resource: str | None
    remaining: int
    retry_after: int | None


class _Stream:
    """What the faults know of one open watch stream."""

    __slots__ = ("malformed", "resource", "stalled", "transport")

    def __init__(self, resource: str, transport: Any) -> None:
        self.resource = resource
        self.transport = transport
        self.stalled = False
        self.malformed = 0


class Faults:
    """Switches the API server consults on every request and every watch chunk."""

    def __init__(self, *, store: ObjectStore) -> None:
        self._store = store
        self._failures: list[_Failure] = []
        self._streams: dict[int, _Stream] = {}
        self._ids = itertools.count()
        self._delays: dict[str, float] = {}
        self._malformed_budget: dict[str | None, int] = {}
        self._garbage = itertools.cycle(MALFORMED_LINES)
        self.injected: Counter[str] = Counter()
        """How many of each fault actually hit a client (by kind)."""

    # switches

    def fail(
        self,
        *,
        code: int = 500,
        times: int = 1,
        verb: Verb = "any",
        resource: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `code` (a Status body)."""
        if code < 400 or times < 1:
            raise ValueError("fail() needs an error code >= 400 and times >= 1")
        self._failures.append(_Failure(code, verb, resource, times, retry_after))

    def drop_watches(self, *, resource: str | None = None) -> int:
        """Abort open watch connections (of one resource, or all); returns how many."""
        dropped = 0
        for stream in list(self._streams.values()):
            if resource is not None and stream.resource != resource:
                continue
            if stream.transport is not None and not stream.transport.is_closing():
                stream.transport.close()
                dropped += 1
        self.injected["drop"] += dropped
        return dropped

    def compact(self, *, resource: str | None = None) -> None:
        """Forget the watch history: resuming from an older version gets 410 Expired."""
        self._store.compact(resource)
        self.injected["compact"] += 1

    def restart(self) -> int:
        """The API server restarts: every watch dropped, every history gone."""
        dropped = self.drop_watches()
        self._store.compact()
        self.injected["restart"] += 1
        return dropped

    def malformed(self, *, lines: int = 1, resource: str | None = None) -> None:
        """Put a garbage line before each of the next `lines` chunks on every stream (open
        or new) of `resource` (or all)."""
        self._malformed_budget[resource] = self._malformed_budget.get(resource, 0) + lines
        for stream in self._streams.values():
            if resource is None or stream.resource == resource:
                stream.malformed += lines

    def stall_watches(self, *, resource: str | None = None) -> int:
        """Streams open now stop sending anything but stay open; returns how many."""
        stalled = 0
        for stream in self._streams.values():
            if (resource is None or stream.resource == resource) and not stream.stalled:
                stream.stalled = True
                stalled += 1
        self.injected["stall"] += stalled
        return stalled

    def delay(self, *, resource: str, seconds: float) -> None:
        """Hold every chunk of `resource`'s streams back by `seconds` (0 to stop)."""
        if seconds > 0:
            self._delays[resource] = seconds
        else:
            self._delays.pop(resource, None)

    def clear(self) -> None:
        """Stop every fault still pending (stalled streams resume)."""
        self._failures.clear()
        self._delays.clear()
        self._malformed_budget.clear()
        for stream in self._streams.values():
            stream.stalled = False
            stream.malformed = 0

    # hooks for the API server

    def request_failure(
        self, *, verb: Literal["list", "watch", "get", "write"], resource: str
    ) -> web.Response | None:
        """The error response this request gets, or None to serve it."""
        for failure in self._failures:
            if failure.verb not in ("any", verb):
                continue
            if failure.resource is not None and failure.resource != resource:
                continue
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.remove(failure)
            self.injected[f"http_{failure.code}"] += 1
            return _error_response(failure.code, failure.retry_after)
        return None

    def stream_opened(self, *, resource: str, transport: Any) -> int:
        """Register a watch stream; returns its id for `chunk` and `stream_closed`."""
        stream_id = next(self._ids)
        stream = _Stream(resource, transport)
        stream.malformed = self._malformed_budget.get(resource, 0) + self._malformed_budget.get(
            None, 0
        )
        self._streams[stream_id] = stream
        return stream_id

    def stream_closed(self, stream_id: int) -> None:
        self._streams.pop(stream_id, None)

    async def chunk(
        self, stream_id: int, data: bytes, *, client_gone: Callable[[], bool]
    ) -> bytes | None:
        """The bytes to write for `data` (delayed, prefixed with garbage), or None when the
        stream is stalled and the client left meanwhile."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return data
        delay = self._delays.get(stream.resource)
        if delay:
            self.injected["delay"] += 1
            await asyncio.sleep(delay)
        while stream.stalled:
            if client_gone():
                return None
            await asyncio.sleep(_STALL_POLL_S)
        if stream.malformed > 0:
            stream.malformed -= 1
            self._spend_budget(stream.resource)
            self.injected["malformed"] += 1
            return next(self._garbage) + b"\n" + data
        return data

    def _spend_budget(self, resource: str) -> None:
        for key in (resource, None):
            if self._malformed_budget.get(key, 0) > 0:
                self._malformed_budget[key] -= 1
                return


def _error_response(code: int, retry_after: int | None) -> web.Response:
    details: dict[str, Any] | None = None
    headers: dict[str, str] = {}
    if retry_after is not None:
        details = {"retryAfterSeconds": retry_after}
        headers["Retry-After"] = str(retry_after)
    message = {
        429: "Too many requests, please try again later.",
        503: "the server is currently unable to handle the request",
    }.get(code, 'an error on the server ("injected") has prevented the request from succeeding')
    body = status(code=code, message=message, reason=_REASONS.get(code), details=details)
    return web.Response(
        status=code, body=orjson.dumps(body), headers=headers, content_type="application/json"
    )


@dataclass(frozen=True, slots=True)
class Write:
    """One write as the store made it."""

    resource: str
    type: str
    """ADDED, MODIFIED or DELETED."""
    uid: str
    resource_version: str
    namespace: str


class WriteLog:
    """Every write to some resources from now on, plus what they held when the log began.

    Objects already stored at creation are logged as ADDED at their current version,
    which is what any client listing now would see first.
    """

    def __init__(self, *, store: ObjectStore, resources: Iterable[str]) -> None:
        self.writes: list[Write] = []
        self._store = store
        self._resources = tuple(resources)
        for resource in self._resources:
            for stored in store.items(resource):
                meta = orjson.loads(stored.data)["metadata"]
                self._append(resource, "ADDED", meta)
            store.listen(resource, self._listener(resource))

    def _listener(self, resource: str) -> Callable[[str, dict[str, Any]], None]:
        def on_write(type_: str, obj: dict[str, Any]) -> None:
            self._append(resource, type_, obj["metadata"])

        return on_write

    def _append(self, resource: str, type_: str, meta: dict[str, Any]) -> None:
        self.writes.append(
            Write(
                resource=resource,
                type=type_,
                uid=meta.get("uid", ""),
                resource_version=meta["resourceVersion"],
                namespace=meta.get("namespace", ""),
            )
        )

    def of(self, resource: str) -> list[Write]:
        return [w for w in self.writes if w.resource == resource]

    def final_versions(self, resource: str) -> dict[str, str]:
        """uid -> resourceVersion of every object of `resource` stored now."""
        return {s.uid: str(s.rv) for s in self._store.items(resource)}
