"""The engine: routes observations to the lifecycle trackers and decides when a trace is emitted.

A step is `observe(observation) -> spans`; time passing without observations
is `advance(now_ns) -> spans`. The engine never reads a clock: its notion of
now is the latest receipt time it was given, so live runs, replays and
benchmarks behave identically.

Emission: a lifecycle's trace is emitted whole once the lifecycle has ended
and a settle delay has passed (late Events land inside it). Emitting the
whole trace at once, rather than each child as it ends, is what lets the
export side sample whole traces. A lifecycle that never ends is closed as
`timed_out`; data arriving for an emitted lifecycle is counted, not patched in.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass

from tracewatch.core.clock import SECOND_NS, Instant
from tracewatch.core.kinds import pod as podkind
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Event, Pod
from tracewatch.core.spans import Outcome, SpanRecord, TimeSource


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineOptions:
    """Tuning. settle_delay_ns: how long after a lifecycle ends late Events may still land.
    lifecycle_timeout_ns: how long a lifecycle may run before it is closed as timed_out.
    backfill_ns: lifecycles found already finished at start-up are emitted if they ended
    within this look-back; older ones are history we were not asked for.
    pending_event_ttl_ns: how long an Event whose object we have not seen yet is kept."""

    settle_delay_ns: int = 2 * SECOND_NS
    lifecycle_timeout_ns: int = 15 * 60 * SECOND_NS
    backfill_ns: int = 10 * 60 * SECOND_NS
    pending_event_ttl_ns: int = 60 * SECOND_NS


class Engine:
    """Stateful but pure: no I/O, no clock; feed it observations, collect spans."""

    def __init__(self, *, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()
        self.now_ns = 0
        self.counters: Counter[str] = Counter()
        self._pods: dict[str, podkind.PodTrack] = {}
        self._finished_pods: set[str] = set()
        self._pending_events: dict[str, list[tuple[int, Event]]] = {}
        self._emit_heap: list[tuple[int, str]] = []
        self._timeout_heap: list[tuple[int, str]] = []

    @property
    def tracked(self) -> int:
        """Lifecycles in progress (started, not yet emitted)."""
        return len(self._pods)

    def observe(self, obs: Observation) -> list[SpanRecord]:
        """Fold one observation in; returns the spans of every lifecycle now due."""
        self.now_ns = max(self.now_ns, obs.observed_at_ns)
        self.counters[f"observations.{obs.resource}"] += 1
        obj = obs.obj
        if isinstance(obj, Pod):
            self._observe_pod(obs, obj)
        elif isinstance(obj, Event):
            self._observe_event(obs, obj)
        return self.advance(self.now_ns)

    def advance(self, now_ns: int) -> list[SpanRecord]:
        """Let time pass: emit settled lifecycles and close those over the time limit."""
        self.now_ns = max(self.now_ns, now_ns)
        out: list[SpanRecord] = []
        limit = self.options.lifecycle_timeout_ns
        while self._timeout_heap and self._timeout_heap[0][0] <= self.now_ns:
            _, uid = heapq.heappop(self._timeout_heap)
            track = self._pods.get(uid)
            if track is not None and track.end is None:
                end = Instant(track.first_seen_ns + limit, TimeSource.WATCH)
                podkind.finish(track, end, Outcome.TIMED_OUT, reason="TimedOut")
                out.extend(self._emit(uid))
        while self._emit_heap and self._emit_heap[0][0] <= self.now_ns:
            _, uid = heapq.heappop(self._emit_heap)
            out.extend(self._emit(uid))
        return out

    def drain(self) -> list[SpanRecord]:
        """On shutdown: emit every ended lifecycle now, without waiting for its settle delay."""
        out: list[SpanRecord] = []
        while self._emit_heap:
            _, uid = heapq.heappop(self._emit_heap)
            out.extend(self._emit(uid))
        return out

    def _observe_pod(self, obs: Observation, pod: Pod) -> None:
        uid = pod.metadata.uid
        if uid in self._finished_pods:
            if obs.change in (Change.DELETED, Change.RELISTED_GONE):
                self._finished_pods.discard(uid)
            return
        track = self._pods.get(uid)
        if track is None:
            if obs.change in (Change.DELETED, Change.RELISTED_GONE):
                return
            track = podkind.start_track(pod, observed_at_ns=obs.observed_at_ns)
            if track is None:
                self.counters["observations.invalid"] += 1
                return
            self._pods[uid] = track
            heapq.heappush(
                self._timeout_heap,
                (obs.observed_at_ns + self.options.lifecycle_timeout_ns, uid),
            )
            for received_ns, event in self._pending_events.pop(uid, ()):
                podkind.apply_event(track, event, observed_at_ns=received_ns)
        was_open = track.end is None
        if obs.change in (Change.DELETED, Change.RELISTED_GONE):
            podkind.apply_deleted(track, observed_at_ns=obs.observed_at_ns)
        else:
            podkind.apply_pod(track, pod, observed_at_ns=obs.observed_at_ns)
        if was_open and track.end is not None:
            self._schedule_emit(track)

    def _observe_event(self, obs: Observation, event: Event) -> None:
        ref = event.involved_object
        if ref.kind != "Pod":
            return
        uid = ref.uid
        track = self._pods.get(uid)
        if track is not None:
            podkind.apply_event(track, event, observed_at_ns=obs.observed_at_ns)
            return
        if uid in self._finished_pods:
            self.counters["events.late"] += 1
            return
        self._prune_pending()
        self._pending_events.setdefault(uid, []).append((obs.observed_at_ns, event))

    def _prune_pending(self) -> None:
        # Events whose object never showed up (another shard's, or from before we watched).
        horizon = self.now_ns - self.options.pending_event_ttl_ns
        if len(self._pending_events) < 1024:
            return
        stale = [u for u, evs in self._pending_events.items() if evs[-1][0] < horizon]
        for u in stale:
            del self._pending_events[u]

    def _schedule_emit(self, track: podkind.PodTrack) -> None:
        assert track.end is not None
        due = max(track.end.ns, track.last_observed_ns or 0) + self.options.settle_delay_ns
        heapq.heappush(self._emit_heap, (due, track.uid))

    def _emit(self, uid: str) -> list[SpanRecord]:
        track = self._pods.pop(uid, None)
        if track is None:
            return []
        self._finished_pods.add(uid)
        assert track.end is not None and track.outcome is not None
        # Ended before we first looked, and before the back-fill window: not ours to emit.
        if track.end.ns < track.first_seen_ns - self.options.backfill_ns:
            self.counters["lifecycles.skipped_history"] += 1
            return []
        self.counters[f"lifecycles.pod.{track.outcome.value}"] += 1
        return podkind.build_spans(track)
