"""The engine: routes observations to the kind trackers, places lifecycles, decides emission.

A step is `observe(observation) -> spans`; time passing without observations
is `advance(now_ns) -> spans`. The engine never reads a clock: its notion of
now is the latest receipt time it was given, so live runs, replays and
benchmarks behave identically.

Emission: a lifecycle's spans are built once it has ended and a settle delay
has passed (late Events land inside it). A lifecycle nested in an owner's
open lifecycle is held by the owner and leaves with it, so every trace is
emitted whole, its top span stretched over what it holds (DESIGN.md has
children emitted as they end; emitting whole traces is what makes
whole-trace sampling and order-independent placement possible). A lifecycle
that never ends is closed as `timed_out`; data arriving for an emitted
lifecycle is counted, not patched in.

Placement (where a lifecycle's top span goes), resolved lazily so that the
cross-type order in which watches deliver does not matter (owners are looked
up when a child is emitted, seconds after the facts):

1. a trace-context annotation on the object: a child of that remote span;
2. the controller owner has a lifecycle that was open when this one started
   and that has not already been emitted with an earlier end: a child of it,
   in its trace (Deployment rollout -> ReplicaSet scale -> Pod startup);
3. otherwise a trace of its own, linked to the owner's latest lifecycle
   (a pod replaced by self-healing links to its ReplicaSet's last scale).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import msgspec

from tracewatch.core import ids
from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import SECOND_NS, Instant
from tracewatch.core.emitted import EmittedLifecycles
from tracewatch.core.kinds import TRACKERS
from tracewatch.core.kinds.base import Tracker
from tracewatch.core.kinds.claims import BIND_SPAN
from tracewatch.core.lifecycle import Lifecycle, Placement
from tracewatch.core.nesting import clamp, fits, owner_bounds
from tracewatch.core.observations import Change, Observation
from tracewatch.core.pending import PendingEvents
from tracewatch.core.snapshots import Event, ObjectMeta
from tracewatch.core.spans import Outcome, SpanLink, SpanRecord, TimeSource
from tracewatch.core.tracecontext import context_from_annotations

_HISTORY = 4  # ended lifecycles kept per owner for placing late children
_HEAP_SLACK = 1024  # dead timeout entries tolerated before the heap is compacted
_NONE_OPEN: Mapping[str, Lifecycle] = MappingProxyType({})
_NEVER = 1 << 62  # a due time no receipt time reaches (2116)
# On Python 3.11 `Change.X` is a slow lookup (EnumType defines __getattr__); a global is not.
_ADDED, _MODIFIED = Change.ADDED, Change.MODIFIED


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """Tuning. settle_delay_ns: how long after a lifecycle ends late Events may still land.
    lifecycle_timeout_ns: how long a lifecycle may run before it is closed as timed_out.
    backfill_ns: lifecycles found already finished at start-up are emitted if they ended
    within this look-back; older ones are history we were not asked for.
    pending_event_ttl_ns: how long an Event whose object we have not seen yet is kept.
    child_wait_ns: see below."""

    settle_delay_ns: int = 2 * SECOND_NS
    lifecycle_timeout_ns: int = 15 * 60 * SECOND_NS
    backfill_ns: int = 10 * 60 * SECOND_NS
    pending_event_ttl_ns: int = 60 * SECOND_NS
    child_wait_ns: int = 60 * SECOND_NS
    """How long an ended lifecycle waits for children still running inside it (old pods
    terminating after a rollout completed) before leaving without them."""


class Engine:
    """Stateful but pure: no I/O, no clock; feed it observations, collect spans."""

    def __init__(
        self,
        *,
        options: EngineOptions | None = None,
        emitted: Iterable[tuple[str, str]] = (),
        trackers: Iterable[Tracker] | None = None,
    ) -> None:
        self.options = options or EngineOptions()
        self.now_ns = 0
        self.counters: Counter[str] = Counter()
        chosen = list(trackers if trackers is not None else (t() for t in TRACKERS))
        self._by_type: dict[type, Tracker] = {t: tr for tr in chosen for t in tr.snapshot_types}
        self._by_kind = {t.__name__: tr for t, tr in self._by_type.items()}
        self._by_event_kind = {k: tr for tr in chosen for k in tr.event_kinds}
        self._open: dict[str, dict[str, Lifecycle]] = {}
        self._history: dict[str, list[Lifecycle]] = {}
        self._names: dict[tuple[str, str, str], str] = {}
        self._children: dict[str, set[tuple[str, str]]] = {}
        self._emitted = EmittedLifecycles(emitted)
        self._gone: set[str] = set()
        self._pending_events = PendingEvents(ttl_ns=self.options.pending_event_ttl_ns)
        self._emit_heap: list[tuple[int, int, str, str]] = []
        self._timeout_heap: list[tuple[int, int, str, str]] = []
        self._seq = 0
        self._open_count = 0
        self._due_ns = _NEVER
        self._placing: set[int] = set()  # ids of the lifecycles `_place` is placing now

    @property
    def tracked(self) -> int:
        """Lifecycles in progress (opened, not yet emitted)."""
        return self._open_count

    def emitted_lifecycles(self) -> set[tuple[str, str]]:
        """(uid, key) of every lifecycle emitted and not yet forgotten: what a state file keeps."""
        return self._emitted.pairs()

    # -- stepping -------------------------------------------------------------------------------

    def observe(self, obs: Observation) -> list[SpanRecord]:
        """Fold one observation in; returns the spans of every lifecycle now due."""
        now_ns = obs.observed_at_ns
        if now_ns > self.now_ns:
            self.now_ns = now_ns
        else:
            now_ns = self.now_ns
        # What was due before this observation leaves first, so trackers see only open work.
        # Most steps have nothing due: one comparison with the earliest due time says so.
        out = self.advance(now_ns) if now_ns >= self._due_ns else []
        obj = obs.obj
        if type(obj) is Event:
            # An Event's deletion (its TTL, an hour after its last write, ran out) is no
            # new occurrence of what it records; its ADDED and MODIFIEDs were.
            change = obs.change
            if change is _ADDED or change is _MODIFIED:
                self._observe_event(obs, obj)
        else:
            tracker = self._by_type.get(type(obj))
            if tracker is not None:
                tracker.observe(obs, obj, self)
        if now_ns >= self._due_ns:
            out += self.advance(now_ns)
        return out

    def advance(self, now_ns: int) -> list[SpanRecord]:
        """Let time pass: emit settled lifecycles and close those over the time limit."""
        self.now_ns = max(self.now_ns, now_ns)
        out: list[SpanRecord] = []
        while self._timeout_heap and self._timeout_heap[0][0] <= self.now_ns:
            due, _, uid, key = heapq.heappop(self._timeout_heap)
            lc = self._open.get(uid, {}).get(key)
            if lc is not None and lc.end is None:
                lc.finish(Instant(due, TimeSource.WATCH), Outcome.TIMED_OUT, reason="TimedOut")
                self._schedule(lc, due + self.options.settle_delay_ns)
        while self._emit_heap and self._emit_heap[0][0] <= self.now_ns:
            _, _, uid, key = heapq.heappop(self._emit_heap)
            out.extend(self._emit(uid, key))
        self._reset_due()
        return out

    def _reset_due(self) -> None:
        """`_due_ns`: the earliest entry of either heap (_NEVER if both are empty). Between
        resets it only moves earlier (`_push`), so it is never later than what is due."""
        timeouts, emits = self._timeout_heap, self._emit_heap
        due = timeouts[0][0] if timeouts else _NEVER
        if emits and emits[0][0] < due:
            due = emits[0][0]
        self._due_ns = due

    def _push(self, heap: list[tuple[int, int, str, str]], due: int, lifecycle: Lifecycle) -> None:
        self._seq += 1
        heapq.heappush(heap, (due, self._seq, lifecycle.uid, lifecycle.key))
        if due < self._due_ns:
            self._due_ns = due

    def _compact_timeouts(self) -> None:
        # Timeouts of emitted lifecycles stay in the heap until they fall due (15 min by
        # default): 100k pods listed at start would keep 100k dead entries that long.
        # Dropping them once they outnumber the live ones costs O(n) now and then.
        self._timeout_heap = [
            entry for entry in self._timeout_heap
            if (lc := self._open.get(entry[2], {}).get(entry[3])) is not None and lc.end is None
        ]
        heapq.heapify(self._timeout_heap)
        self._reset_due()

    def drain(self) -> list[SpanRecord]:
        """On shutdown: emit every ended lifecycle now, without waiting for its settle delay."""
        out: list[SpanRecord] = []
        while self._emit_heap:
            _, _, uid, key = heapq.heappop(self._emit_heap)
            # No time passes in a drain: a lifecycle waiting for a running child would wait
            # (and be rescheduled) forever; it leaves without the child instead.
            out.extend(self._emit(uid, key, wait=False))
        self._reset_due()
        return out

    # -- the Ledger trackers use ----------------------------------------------------------------

    def open(self, lifecycle: Lifecycle) -> None:
        uid, key, owner_uid = lifecycle.uid, lifecycle.key, lifecycle.owner_uid
        open_ = self._open.get(uid)
        if open_ is None:
            self._open[uid] = {key: lifecycle}
        else:
            open_[key] = lifecycle
        self._open_count += 1
        if owner_uid:
            siblings = self._children.get(owner_uid)
            if siblings is None:
                self._children[owner_uid] = {(uid, key)}
            else:
                siblings.add((uid, key))
        tracker = self._by_kind[lifecycle.kind]
        if tracker.keeps_history:
            self._names[(lifecycle.kind, lifecycle.namespace, lifecycle.name)] = uid
            history = self._history.setdefault(uid, [])
            history.append(lifecycle)
            if len(history) > _HISTORY:
                del history[0]
        timeout_ns = lifecycle.first_seen_ns + self.options.lifecycle_timeout_ns
        self._push(self._timeout_heap, timeout_ns, lifecycle)
        if len(self._timeout_heap) > 2 * self._open_count + _HEAP_SLACK:
            self._compact_timeouts()
        kind = lifecycle.kind
        for received_ns, event in self._pending_events.take(uid):
            if event.involved_object.kind == kind:  # the rule `_observe_event` states
                tracker.event(lifecycle, event, received_ns)

    def ended(self, lifecycle: Lifecycle) -> None:
        assert lifecycle.end is not None
        # Settle from when we learned of the end: a retroactive end must not skip the delay.
        self._schedule(lifecycle, max(lifecycle.end.ns, self.now_ns) + self.options.settle_delay_ns)

    def _schedule(self, lifecycle: Lifecycle, due: int) -> None:
        self._push(self._emit_heap, due, lifecycle)

    def current(self, uid: str, key: str | None = None) -> Lifecycle | None:
        open_ = self._open.get(uid)
        if not open_:
            return None
        if key is not None:
            return open_.get(key)
        return max(open_.values(), key=lambda lc: lc.start.ns)

    def open_lifecycles(self, uid: str) -> Mapping[str, Lifecycle]:
        return self._open.get(uid) or _NONE_OPEN

    def was_emitted(self, uid: str, key: str) -> bool:
        return self._emitted.has(uid, key)

    def context_for(self, meta: ObjectMeta) -> Placement | None:
        found = context_from_annotations(meta.annotations)
        if found is False:
            self.counters["trace_context.invalid"] += 1
            return None
        return found or None

    def skip_history(self, kind: str, uid: str, key: str, *, end_ns: int, at_ns: int) -> bool:
        # `_emit`'s test, taken before anything is allocated: 100k idle pods
        # listed at start-up never become lifecycles, timeouts or scheduled emissions.
        assert not self._by_kind[kind].keeps_history
        if not self._before_backfill(end_ns=end_ns, first_seen_ns=at_ns):
            return False
        self.counters["lifecycles.skipped_history"] += 1
        self._emitted.add(uid, key)
        self._pending_events.discard(uid)
        return True

    def _before_backfill(self, *, end_ns: int, first_seen_ns: int) -> bool:
        """Ended before we first looked, and before the back-fill window: not ours to emit."""
        return end_ns < first_seen_ns - self.options.backfill_ns

    def forget(self, uid: str) -> None:
        self._gone.add(uid)
        self._release(uid)

    def placement_of(self, uid: str, key: str) -> Placement | None:
        lc = self._open.get(uid, {}).get(key)
        if lc is None:
            lc = next((h for h in self._history.get(uid, ()) if h.key == key), None)
        return self._place(lc) if lc is not None else None

    def claim_binding(self, *, namespace: str, claim: str) -> tuple[bytes, bytes] | None:
        uid = self._names.get(("PersistentVolumeClaim", namespace, claim))
        placement = self.placement_of(uid, "create") if uid is not None else None
        if placement is None:
            return None
        trace = placement.trace_id
        return trace, ids.span_id(name=BIND_SPAN, discriminator=f"{uid}/create/")

    # -- internals ------------------------------------------------------------------------------

    def _observe_event(self, obs: Observation, event: Event) -> None:
        ref = event.involved_object
        tracker = self._by_event_kind.get(ref.kind)
        if tracker is None:
            return
        uid = ref.uid
        open_ = self._open.get(uid)
        if open_:
            # A tracker folds an Event into lifecycle state only (it gets no ledger), so
            # the open lifecycles cannot change under this loop: no copy of them is needed.
            # Any client writes Events: one naming another kind's uid is not for this tracker.
            # An Event reaches a lifecycle only of the kind it names, here and when held
            # ones are handed over in `open`.
            at_ns, kind = obs.observed_at_ns, ref.kind
            for lc in open_.values():
                if lc.kind == kind:
                    tracker.event(lc, event, at_ns)
            return
        if uid in self._gone or uid in self._emitted:
            self.counters["events.late"] += 1
            return
        self._pending_events.add(uid, event, received_ns=obs.observed_at_ns, now_ns=self.now_ns)

    def _owner_lifecycle(self, lc: Lifecycle) -> tuple[Lifecycle | None, Lifecycle | None]:
        """(the owner lifecycle open when `lc` started, the owner's latest one before it)."""
        if not lc.owner_uid and lc.owner_hint is not None:
            kind, names = lc.owner_hint
            lc.owner_uid = next(
                (u for n in names if (u := self._names.get((kind, lc.namespace, n)))), ""
            )
        if not lc.owner_uid or lc.owner_uid == lc.uid:
            return None, None  # no owner (an object owning itself is none either)
        # Compare what the data allows, not the estimates: an owner whose start may lie
        # before the child's contains it (fused receipts and 1 s timestamps are late).
        # Where estimates agree they decide; bounds only widen the net when they do not.
        low, high, at = lc.start.earliest, lc.start.latest, lc.start.ns
        by_estimate = by_bounds = latest = None
        for olc in self._history.get(lc.owner_uid, ()):
            if olc.start.earliest > high:
                continue
            latest = olc
            if olc.end is None or olc.end.latest >= low:
                by_bounds = olc
                if olc.start.ns <= at and (olc.end is None or olc.end.ns >= at):
                    by_estimate = olc
        return by_estimate or by_bounds, latest

    def _place(self, lc: Lifecycle) -> Placement:
        if lc.placement is not None:
            return lc.placement
        name = self._by_kind[lc.kind].top_name(lc)
        links: tuple[SpanLink, ...] = tuple(lc.links)
        if lc.context is not None:
            trace, parent = lc.context.trace_id, lc.context.parent_span_id
        else:
            parent = b""
            # Owner references can form a cycle (damaged or hand-edited objects): an owner
            # already being placed further up this chain is not one to nest in or link to.
            placing = self._placing
            placing.add(id(lc))
            owner, latest = self._owner_lifecycle(lc)
            if owner is not None and id(owner) not in placing and self._can_nest(lc, owner):
                outer = self._place(owner)
                trace, parent = outer.trace_id, outer.span_id
            else:
                trace = ids.trace_id(uid=lc.uid, lifecycle=lc.key)
                if latest is not None and id(latest) not in placing:
                    outer = self._place(latest)
                    links += (
                        SpanLink(outer.trace_id, outer.span_id, (("tracewatch.link", "owner"),)),
                    )
            placing.discard(id(lc))
        span = ids.span_id(name=name, discriminator=f"{lc.uid}/{lc.key}/")
        lc.placement = Placement(trace_id=trace, parent_span_id=parent, span_id=span, links=links)
        return lc.placement

    def _can_nest(self, lc: Lifecycle, owner: Lifecycle) -> bool:
        if owner_bounds(owner)[1] is None:
            return True
        # The owner left or was cut short: only a child that ended inside it still fits.
        return lc.end is not None and fits(lc, owner)

    def _emit(self, uid: str, key: str, *, wait: bool = True) -> list[SpanRecord]:
        open_ = self._open.get(uid)
        lc = open_.get(key) if open_ is not None else None
        if lc is None:
            return []
        assert open_ is not None and lc.end is not None
        has_children = uid in self._children
        if has_children and wait and self._waits_for_children(lc):
            self._schedule(lc, self.now_ns + max(self.options.settle_delay_ns, SECOND_NS // 2))
            return []
        out = self._emit_ended_children(lc, wait=wait) if has_children else []
        del open_[key]
        if not open_:
            del self._open[uid]
        self._open_count -= 1
        assert lc.end is not None and lc.outcome is not None
        placement = self._place(lc)
        self._emitted.add(uid, key)
        spans: list[SpanRecord] = []
        if self._before_backfill(end_ns=lc.end.ns, first_seen_ns=lc.first_seen_ns):
            self.counters["lifecycles.skipped_history"] += 1
        else:
            owner = self._nesting_owner(lc, placement)
            if owner is not None and not fits(lc, owner):
                placement, owner = self._rehome(lc, owner), None
            floor, ceiling = 0, None
            if owner is not None:
                floor, ceiling = owner_bounds(owner)
            builder = TraceBuilder(
                placement=placement, scope=f"{uid}/{key}", floor_ns=floor, ceiling_ns=ceiling
            )
            self._by_kind[lc.kind].build(lc, builder, self)
            spans = builder.spans()
            self.counters[f"lifecycles.{lc.kind}.{lc.outcome._value_}"] += 1
            if spans:
                spans.extend(lc.held)
                if ceiling is not None:
                    # It fits the owner by what the data allows: make the estimates agree.
                    spans = [clamp(span, floor, ceiling) for span in spans]
                top = spans[0]
                lc.emitted_bounds = (top.start_ns, top.end_ns)
                if owner is not None and owner.emitted_bounds is None:
                    # Held by the owner: the whole trace leaves when its top lifecycle does.
                    first = owner.nested_start_ns or top.start_ns
                    owner.nested_start_ns = min(first, top.start_ns)
                    owner.nested_end_ns = max(owner.nested_end_ns, top.end_ns)
                    owner.held.extend(spans)
                    spans = []
        lc.held = []
        if lc.owner_uid:
            siblings = self._children.get(lc.owner_uid)
            if siblings is not None:
                siblings.discard((uid, key))
                if not siblings:
                    del self._children[lc.owner_uid]
        if uid in self._gone:
            self._release(uid)
        return out + spans

    def _waits_for_children(self, lc: Lifecycle) -> bool:
        """True while a lifecycle that ended should still wait for work running inside it.

        A completed or failed lifecycle waits (up to child_wait_ns) for children that
        started inside it, and for children that are themselves waiting, so a trace
        leaves whole; a superseded, deleted or timed-out one does not.
        """
        assert lc.end is not None
        if lc.outcome not in (Outcome.COMPLETED, Outcome.FAILED):
            return False
        limit = max(lc.end.ns, lc.first_seen_ns) + self.options.settle_delay_ns
        children = self._children.get(lc.uid)
        if not children or self.now_ns >= limit + self.options.child_wait_ns:
            return False
        mine = self._place(lc).span_id
        for uid, key in children:
            child = self._open.get(uid, {}).get(key)
            if child is None or self._place(child).parent_span_id != mine:
                continue
            if child.end is None or self._waits_for_children(child):
                return True
        return False

    def _emit_ended_children(self, lc: Lifecycle, *, wait: bool) -> list[SpanRecord]:
        """Children that ended but are still settling leave with their owner, inside it."""
        out: list[SpanRecord] = []
        children = self._children.get(lc.uid)
        if not children:
            return out
        mine = self._place(lc).span_id
        for uid, key in sorted(children):
            child = self._open.get(uid, {}).get(key)
            if (
                child is not None
                and child.end is not None
                and self._place(child).parent_span_id == mine
            ):
                out.extend(self._emit(uid, key, wait=wait))
        return out

    def _rehome(self, lc: Lifecycle, owner: Lifecycle) -> Placement:
        """Move lc (and what it holds) to a trace of its own, linked to the owner it outlived.

        Span ids do not depend on the trace, so only trace ids change; open children
        placed inside lc are re-placed when they leave.
        """
        old = self._place(lc)
        outer = self._place(owner)
        trace = ids.trace_id(uid=lc.uid, lifecycle=lc.key)
        link = SpanLink(outer.trace_id, outer.span_id, (("tracewatch.link", "owner"),))
        lc.placement = Placement(
            trace_id=trace, parent_span_id=b"", span_id=old.span_id, links=(*old.links, link)
        )
        lc.held = [msgspec.structs.replace(s, trace_id=trace) for s in lc.held]
        for uid, key in self._children.get(lc.uid, ()):
            child = self._open.get(uid, {}).get(key)
            if (
                child is not None
                and child.placement is not None
                and (child.placement.parent_span_id == old.span_id)
            ):
                child.placement = None
        self.counters["lifecycles.rehomed"] += 1
        return lc.placement

    def _nesting_owner(self, lc: Lifecycle, placement: Placement) -> Lifecycle | None:
        """The owner lifecycle this one was placed inside, if any."""
        if not placement.parent_span_id or not lc.owner_uid:
            return None
        for olc in self._history.get(lc.owner_uid, ()):
            if olc.placement is not None and olc.placement.span_id == placement.parent_span_id:
                return olc
        return None

    def _release(self, uid: str) -> None:
        """Drop what is kept for a gone object once none of its lifecycles is open."""
        if uid in self._open:
            return
        for lc in self._history.pop(uid, ()):
            if self._names.get((lc.kind, lc.namespace, lc.name)) == uid:
                del self._names[(lc.kind, lc.namespace, lc.name)]
        self._pending_events.discard(uid)
        self._emitted.discard(uid)
        self._gone.discard(uid)
