"""The informer: an endless list-then-watch loop for one resource, feeding observations to a sink.

Layers, each owning one failure class (after kopf's watcher):
`run` is the endless loop that classifies errors and waits (backoff, Retry-After);
`_list` lists and diffs against known state (first list and every relist after a
410); `_watch` consumes one stream (`watching.watch_once`, which owns the read
timeout and in-stream errors). The position in history is the explicit
`WatchCursor`; `cursor.next_request` decides list or watch and from which version.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import structlog

from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.backoff import Backoff, BackoffPolicy
from tracewatch.kube.connection import ApiError, ApiTransport, ReadTimeout, describe_failure
from tracewatch.kube.cursor import Verb, WatchCursor, next_request
from tracewatch.kube.decoding import DecodeError
from tracewatch.kube.heaptrim import release_free_heap
from tracewatch.kube.listing import list_pages
from tracewatch.kube.relisting import KnownObjects, diff_page, vanished
from tracewatch.kube.resources import WatchedResource, resource_named
from tracewatch.kube.watching import MalformedLine, RawWatchLine, watch_once

__all__ = ["Informer", "InformerOptions", "InformerStats", "ObjectFilter", "RawSink", "Sink"]

log = structlog.get_logger(__name__)

Sink = Callable[[Observation], Awaitable[None] | None]
"""Receives every observation in order; keep it fast (e.g. put into an asyncio.Queue)."""
RawSink = Callable[[Observation, bytes], Awaitable[None] | None]
"""Record mode: every observation with its object's bytes as received (for RELISTED_GONE,
the last bytes seen)."""
ObjectFilter = Callable[[Snapshot], bool]
"""Which objects this informer keeps (sharding); must give the same answer for every
version of an object (e.g. decide by namespace)."""

_CHANGES = {"ADDED": Change.ADDED, "MODIFIED": Change.MODIFIED, "DELETED": Change.DELETED}


@dataclass(frozen=True, slots=True, kw_only=True)
class InformerOptions:
    """Tuning and injected effects (clock, sleep, randomness); defaults are for production."""

    clock_ns: Callable[[], int] = time.time_ns
    """Receipt time stamped on each observation (wall clock, ns since the epoch)."""
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    random: Callable[[], float] = random.random
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    watch_timeout_seconds: tuple[int, int] = (300, 600)
    """Server-side watch duration, drawn per request: one reconnect per 5-10 min per
    informer, spread so that many informers do not all reconnect at once."""
    read_timeout: float = 120.0
    """Silence after which a stream is presumed dead. The API server sends a bookmark
    about once a minute to watchers that allow them, so two minutes of nothing is a
    dead connection; a spurious timeout costs only a re-watch from the last version."""
    request_timeout: float = 60.0
    """Read timeout for list pages."""
    page_size: int = 500
    """List page size: bounds the API server's memory per request (client-go's default)."""
    max_retry_after: float = 300.0
    min_watch_seconds: float = 1.0
    """A watch closed sooner than this with nothing delivered counts as a failure (backoff),
    so a server that closes streams at once cannot make us spin."""
    malformed_log_interval: float = 10.0
    """At most one malformed-line log record per informer per this many seconds; the rest
    are counted (and the count is in the next record), so a flood cannot flood the logs."""


@dataclass(slots=True)
class InformerStats:
    """Counters the ops layer exports."""

    observations: int = 0
    relists: int = 0
    decode_errors: int = 0
    duplicates: int = 0
    filtered: int = 0
    """Objects left to other shards."""
    sink_errors: int = 0
    """Observations the sink raised on (a bug downstream; the watch goes on)."""
    restarts: Counter[str] = field(default_factory=Counter)
    """Watch restarts by reason: stream_ended, gone, throttled, unauthorized, forbidden,
    server_error, http_error, not_found, connection, read_timeout, decode, short_watch,
    unexpected."""


class _ShortWatch(Exception):
    pass


class Informer:
    """List then watch one resource (all namespaces or one), forever, delivering Observations.

    `run()` returns only by cancellation, which closes the open stream. Every object
    change is delivered once, in the order the server sent it; after a 410 the relist
    is diffed against known state (see `relisting`).
    """

    def __init__(
        self,
        *,
        connection: ApiTransport,
        resource: WatchedResource | str,
        sink: Sink,
        namespace: str | None = None,
        label_selector: str | None = None,
        options: InformerOptions | None = None,
        object_filter: ObjectFilter | None = None,
        raw_sink: RawSink | None = None,
    ) -> None:
        if isinstance(resource, str):
            resource = resource_named(resource)
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self._connection = connection
        self._sink = sink
        self._filter = object_filter
        self._raw_sink = raw_sink
        self._raw_known: dict[str, bytes] = {}
        self._malformed_logged_at = float("-inf")
        self._malformed_suppressed = 0
        self._options = options or InformerOptions()
        self._backoff = Backoff(policy=self._options.backoff, random_fn=self._options.random)
        self._cursor = WatchCursor()
        self._known = KnownObjects()
        self._synced = asyncio.Event()
        self._auth_failing = False
        self._log = log.bind(resource=self.resource.name, namespace=namespace or "*")
        self.stats = InformerStats()
        self.not_served = False
        """True after a 404 on list: the API server does not serve this resource."""
        self.last_error: str | None = None
        """The last failure, cleared by the next successful list or watch; never holds secrets."""

    @property
    def has_synced(self) -> bool:
        """True once the initial list has been delivered."""
        return self._synced.is_set()

    @property
    def auth_failing(self) -> bool:
        """True while the API server answers 401/403."""
        return self._auth_failing

    @property
    def resource_version(self) -> str:
        return self._cursor.resource_version

    @property
    def known_objects(self) -> int:
        return len(self._known)

    async def wait_synced(self) -> None:
        await self._synced.wait()

    async def run(self) -> None:
        """List and watch until cancelled; every failure is logged, counted and retried."""
        while True:
            request = next_request(self._cursor)
            try:
                if request.verb is Verb.LIST:
                    await self._list(request.resource_version)
                else:
                    await self._watch(request.resource_version)
                continue
            except ApiError as exc:
                delay = self._on_api_error(exc, request.verb)
            except ReadTimeout:
                delay = self._failed("read_timeout", request.verb, "stream silent, reconnecting")
            except (aiohttp.ClientError, OSError) as exc:
                delay = self._failed("connection", request.verb, describe_failure(exc))
            except DecodeError as exc:
                delay = self._failed("decode", request.verb, str(exc))
            except _ShortWatch:
                delay = self._failed("short_watch", request.verb, "watch closed at once, empty")
            except Exception as exc:
                # A bug must not stop the watch; it is logged with its traceback.
                self._log.exception("kube.unexpected_error", verb=request.verb.value)
                delay = self._failed("unexpected", request.verb, f"{type(exc).__name__}: {exc}")
            if delay > 0:
                await self._options.sleep(delay)

    async def _list(self, resource_version: str) -> None:
        """List (page by page, each delivered as it arrives) and diff against what we knew."""
        first = not self.has_synced
        listed_uids: set[str] = set()
        objects = changed = invalid = 0
        list_rv = ""
        async for listed in list_pages(
            connection=self._connection,
            resource=self.resource,
            namespace=self.namespace,
            resource_version=resource_version,
            page_size=self._options.page_size,
            timeout=self._options.request_timeout,
            label_selector=self.label_selector,
            keep_raw=self._raw_sink is not None,
        ):
            page = listed.page
            list_rv = page.resource_version
            observed_at = self._options.clock_ns()
            items = tuple(i for i in page.items if i.metadata.uid)
            invalid += page.invalid_items + len(page.items) - len(items)
            if self._filter is not None:
                kept = tuple(i for i in items if self._filter(i))
                self.stats.filtered += len(items) - len(kept)
                items = kept
            if listed.raw is not None:
                raw_by_uid = {
                    i.metadata.uid: r for i, r in zip(page.items, listed.raw, strict=True)
                }
                self._raw_known.update((i.metadata.uid, raw_by_uid[i.metadata.uid]) for i in items)
            objects += len(items)
            changes = diff_page(self._known, items, listed_uids)
            changed += len(changes)
            for change, snapshot in changes:
                raw = self._raw_known.get(snapshot.metadata.uid) if listed.raw is not None else None
                await self._emit(change, snapshot, observed_at, raw)
        # The List is complete: what we knew and it no longer shows is gone.
        observed_at = self._options.clock_ns()
        gone = vanished(self._known, listed_uids)
        for change, snapshot in gone:
            raw = self._raw_known.pop(snapshot.metadata.uid, None)
            await self._emit(change, snapshot, observed_at, raw)
        # The List's pages are garbage now; give their memory back rather than keep the peak.
        release_free_heap()
        if invalid:
            self.stats.decode_errors += invalid
            self._log.warning("kube.invalid_list_items", skipped=invalid, resource_version=list_rv)
        self._cursor.listed(list_rv)
        self._succeeded()
        if not first:
            self.stats.relists += 1
            self._log.info(
                "kube.relisted",
                resource_version=list_rv,
                objects=objects,
                changes=changed + len(gone),
            )
        if first:
            self._synced.set()
            self._log.info("kube.synced", resource_version=list_rv, objects=objects)

    async def _watch(self, resource_version: str) -> None:
        low, high = self._options.watch_timeout_seconds
        timeout_seconds = low + int(self._options.random() * (high - low + 1))
        started = self._options.monotonic()
        received = 0
        stream = watch_once(
            connection=self._connection,
            resource=self.resource,
            namespace=self.namespace,
            resource_version=resource_version,
            timeout_seconds=min(timeout_seconds, high),
            read_timeout=self._options.read_timeout,
            label_selector=self.label_selector,
            on_open=self._accepted,  # auth works and the server is up, even if the stream is quiet
            keep_raw=self._raw_sink is not None,
        )
        async with contextlib.aclosing(stream):
            async for item in stream:
                received += 1
                if received == 1:
                    self._backoff.reset()
                raw = None
                if isinstance(item, RawWatchLine):
                    raw, item = item.raw, item.item
                if isinstance(item, MalformedLine):
                    self._malformed(item)
                    continue
                if item.obj is None:  # BOOKMARK: only moves the cursor
                    self._cursor.advanced(item.resource_version)
                    continue
                if not item.obj.metadata.uid or not item.resource_version:
                    # Decodes (every field has a default) but is no object we could track.
                    self._malformed(MalformedLine(f"{item.type} object without uid or version"))
                    continue
                await self._apply(_CHANGES[item.type], item.obj, item.resource_version, raw)
        if received == 0 and self._options.monotonic() - started < self._options.min_watch_seconds:
            raise _ShortWatch
        self.stats.restarts["stream_ended"] += 1

    def _malformed(self, item: MalformedLine) -> None:
        self.stats.decode_errors += 1
        now = self._options.monotonic()
        if now - self._malformed_logged_at < self._options.malformed_log_interval:
            self._malformed_suppressed += 1
            return
        self._log.warning(
            "kube.malformed_line",
            resource_version=self._cursor.resource_version,
            error=item.error,
            suppressed_since_last=self._malformed_suppressed,
        )
        self._malformed_logged_at = now
        self._malformed_suppressed = 0

    async def _apply(
        self, change: Change, snapshot: Snapshot, resource_version: str, raw: bytes | None
    ) -> None:
        observed_at = self._options.clock_ns()
        uid = snapshot.metadata.uid
        if self._filter is not None and not self._filter(snapshot):
            self.stats.filtered += 1
            self._cursor.advanced(resource_version)
            return
        if change is Change.DELETED:
            self._known.forget(uid)
            self._raw_known.pop(uid, None)
        elif self._known.resource_version(uid) == resource_version:
            # Already delivered at this version (a replayed event): nothing is processed twice.
            self.stats.duplicates += 1
            self._cursor.advanced(resource_version)
            return
        else:
            self._known.remember(snapshot)
            if raw is not None:
                self._raw_known[uid] = raw
        self._cursor.advanced(resource_version)
        await self._emit(change, snapshot, observed_at, raw)

    async def _emit(
        self, change: Change, snapshot: Snapshot, observed_at: int, raw: bytes | None = None
    ) -> None:
        self.stats.observations += 1
        observation = Observation(
            observed_at_ns=observed_at, change=change, resource=self.resource.name, obj=snapshot
        )
        try:
            result = self._sink(observation)
            if result is not None:
                await result
            if self._raw_sink is not None and raw is not None:
                result = self._raw_sink(observation, raw)
                if result is not None:
                    await result
        except asyncio.CancelledError:
            raise
        except Exception:
            # The cursor has moved past this change already; re-watching would not bring it
            # back, so a failing sink costs this one observation, counted, never the watch.
            self.stats.sink_errors += 1
            self._log.exception(
                "kube.sink_failed",
                change=change.value,
                resource_version=snapshot.metadata.resource_version,
            )

    def _on_api_error(self, exc: ApiError, verb: Verb) -> float:
        """Classify an HTTP or in-stream error; returns how long to wait before the next request."""
        if exc.status == 410:
            # 410: history compacted past our version (watch) or a stale list version or
            # continue token (list): relist, diff, carry on.
            if verb is Verb.WATCH:
                self._cursor.watch_expired()
                self.stats.restarts["gone"] += 1
                self._log.info("kube.watch_expired", resource_version=self._cursor.resource_version)
                return 0.0
            retried = self._cursor.version_unavailable
            self._cursor.list_expired()
            self._log.info("kube.list_expired", resource_version=self._cursor.resource_version)
            return self._backoff.next_delay() if retried else 0.0
        detail = f"{exc.status} {exc.reason}: {exc.message}"
        if exc.status in (401, 403):
            reason = "unauthorized" if exc.status == 401 else "forbidden"
            if exc.status == 401:
                # The token may have rotated or expired early: fetch a fresh one to retry with.
                rejected = getattr(self._connection, "credentials_rejected", None)
                if rejected is not None:
                    rejected()
            if not self._auth_failing:
                # One clear line per outage, not one per retry.
                self._log.error(
                    "kube.permission_denied",
                    verb=verb.value,
                    status=exc.status,
                    message=exc.message,
                    needs=f"{verb.value} on {self.resource.name}",
                )
            self._auth_failing = True
            return self._failed(reason, verb, detail, quiet=True)
        if exc.status == 404 and verb is Verb.LIST:
            # The server does not serve this resource (an older cluster, a missing API
            # group): nothing to wait for, so it does not hold readiness back; we keep
            # asking at the backoff cap in case the API appears (a CRD-style upgrade).
            if not self.not_served:
                self._log.warning("kube.resource_not_served", path=self.resource.path())
            self.not_served = True
            self._synced.set()
            return self._failed("not_found", verb, detail, quiet=True)
        if exc.status == 429:
            return self._failed("throttled", verb, detail, retry_after=exc.retry_after)
        if exc.status >= 500:
            return self._failed("server_error", verb, detail, retry_after=exc.retry_after)
        return self._failed("http_error", verb, detail)

    def _failed(
        self,
        reason: str,
        verb: Verb,
        detail: str,
        *,
        retry_after: float | None = None,
        quiet: bool = False,
    ) -> float:
        self.stats.restarts[reason] += 1
        self.last_error = f"{verb.value} {self.resource.name}: {detail}"
        if retry_after is not None and retry_after >= 0:
            delay = min(retry_after, self._options.max_retry_after)
        else:
            delay = self._backoff.next_delay()
        if not quiet:
            self._log.warning(
                "kube.request_failed",
                reason=reason,
                verb=verb.value,
                detail=detail,
                resource_version=self._cursor.resource_version,
                retry_in=round(delay, 3),
            )
        return delay

    def _succeeded(self) -> None:
        self._backoff.reset()
        self._accepted()

    def _accepted(self) -> None:
        self.not_served = False
        # The backoff is reset by the first line, not here: a server that accepts watches
        # and closes them at once must still be backed off from.
        self.last_error = None
        if self._auth_failing:
            self._auth_failing = False
            self._log.info("kube.permission_restored")
