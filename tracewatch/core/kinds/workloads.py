"""Workload lifecycles: rollouts and scale steps, one rule table row per kind.

Each generation of a Deployment, StatefulSet, DaemonSet or ReplicaSet is one
lifecycle (key `gen-<n>`): it starts when the spec changed (creation for
generation 1, else the last spec write in managedFields, fused with the
receipt when seen live) and ends when the controller reached it, by the
rules `kubectl rollout status` uses (`done`), or fails (`failed`), or is
superseded by the next generation (the old trace ends at the new one's
start, the new one links to it). A Job is one lifecycle (key `run`):
creation -> Complete/Failed. Owned pods and ReplicaSets nest inside these
through the engine's placement (DESIGN.md, "Nesting by intent").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec import Struct, field

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant, event_instant, fuse, parse_timestamp_ns
from tracewatch.core.kinds.base import Ledger, open_lifecycle
from tracewatch.core.lifecycle import Lifecycle, top_end, top_start
from tracewatch.core.observations import GONE, Observation
from tracewatch.core.snapshots import (
    Condition,
    DaemonSet,
    Deployment,
    Event,
    Job,
    ReplicaSet,
    StatefulSet,
    WorkloadMeta,
)
from tracewatch.core.spans import Outcome, SpanEvent, SpanLink, StatusCode, TimeSource

# Writers whose updates of a user-owned object are bookkeeping, not a change of desired state.
_CONTROLLER_MANAGERS = ("kube-controller-manager",)


class Verdict(Struct, frozen=True, gc=False):
    """Where a generation stands: done (with the server's time for it, if any) or failed."""

    done: bool = False
    failed: str = ""
    at: str | None = None


# The verdicts without a time, built once: most observations of a workload give one of them.
_PENDING = Verdict()
_DONE = Verdict(done=True)


def _condition(conditions: tuple[Condition, ...], kind: str) -> Condition | None:
    return next((c for c in conditions if c.type == kind), None)


def deployment_verdict(d: Deployment) -> Verdict:
    """kubectl rollout status for Deployments (polymorphichelpers/rollout_status.go)."""
    s = d.status
    if s.observed_generation < d.metadata.generation:
        return _PENDING
    progressing = _condition(s.conditions, "Progressing")
    if progressing is not None and progressing.reason == "ProgressDeadlineExceeded":
        return Verdict(failed="ProgressDeadlineExceeded", at=progressing.last_update_time)
    if s.updated_replicas < d.spec.replicas:
        return _PENDING
    if s.replicas > s.updated_replicas:
        return _PENDING
    if s.available_replicas < s.updated_replicas:
        return _PENDING
    at = None
    if progressing is not None and progressing.reason == "NewReplicaSetAvailable":
        at = progressing.last_update_time
    return Verdict(done=True, at=at)


def statefulset_verdict(s: StatefulSet) -> Verdict:
    """kubectl rollout status for StatefulSets (RollingUpdate without a partition)."""
    st = s.status
    if st.observed_generation < s.metadata.generation:
        return _PENDING
    if st.ready_replicas < s.spec.replicas or st.updated_replicas < s.spec.replicas:
        return _PENDING
    if st.update_revision and st.current_revision != st.update_revision:
        return _PENDING
    return _DONE


def daemonset_verdict(d: DaemonSet) -> Verdict:
    """kubectl rollout status for DaemonSets."""
    st = d.status
    if st.observed_generation < d.metadata.generation:
        return _PENDING
    if st.updated_number_scheduled < st.desired_number_scheduled:
        return _PENDING
    if st.number_available < st.desired_number_scheduled:
        return _PENDING
    return _DONE


def replicaset_verdict(r: ReplicaSet) -> Verdict:
    """A scale step is done when the controller saw it and the ready count matches."""
    st = r.status
    if st.observed_generation < r.metadata.generation:
        return _PENDING
    want = r.spec.replicas
    if st.replicas != want or st.ready_replicas < want:
        return _PENDING
    return _DONE


def job_verdict(j: Job) -> Verdict:
    """A Job ends at its Complete or Failed condition (SuccessCriteriaMet/FailureTarget precede)."""
    for cond in j.status.conditions:
        if cond.status != "True":
            continue
        if cond.type == "Complete":
            return Verdict(done=True, at=cond.last_transition_time)
        if cond.type == "Failed":
            return Verdict(failed=cond.reason or "Failed", at=cond.last_transition_time)
    return _PENDING


@dataclass(frozen=True, slots=True)
class Rules:
    """One row of the table: how a kind's lifecycle is read off its snapshots."""

    kind: type
    span_name: str
    service: str
    attribute: str  # OpenTelemetry k8s.* name prefix: k8s.deployment, k8s.replicaset, ...
    verdict: Callable[[Any], Verdict]
    per_generation: bool = True
    desired: Callable[[Any], int] | None = None
    spec_by_controller: bool = False
    """True where a controller, not a person, changes the spec (a ReplicaSet's replicas)."""


RULES: tuple[Rules, ...] = (
    Rules(
        Deployment,
        "k8s.RolloutDeployment",
        "kube-controller-manager",
        "k8s.deployment",
        deployment_verdict,
        desired=lambda o: o.spec.replicas,
    ),
    Rules(
        ReplicaSet,
        "k8s.ScaleReplicaSet",
        "kube-controller-manager",
        "k8s.replicaset",
        replicaset_verdict,
        desired=lambda o: o.spec.replicas,
        spec_by_controller=True,
    ),
    Rules(
        StatefulSet,
        "k8s.RolloutStatefulSet",
        "kube-controller-manager",
        "k8s.statefulset",
        statefulset_verdict,
        desired=lambda o: o.spec.replicas,
    ),
    Rules(
        DaemonSet,
        "k8s.RolloutDaemonSet",
        "kube-controller-manager",
        "k8s.daemonset",
        daemonset_verdict,
        desired=lambda o: o.status.desired_number_scheduled,
    ),
    Rules(
        Job, "k8s.RunJob", "kube-controller-manager", "k8s.job", job_verdict, per_generation=False
    ),
)


class WorkloadTrack(Struct, eq=False):
    generation: int
    desired: int = 0
    last_observed_ns: int | None = None
    events: list[SpanEvent] = field(default_factory=list)


class WorkloadTracker:
    """Lifecycles of one workload kind, driven by its `Rules` row."""

    event_kinds: tuple[str, ...]
    keeps_history = True

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.snapshot_types = (rules.kind,)
        self.event_kinds = (rules.kind.__name__,)

    def observe(self, obs: Observation, obj: Any, ledger: Ledger) -> None:
        meta: WorkloadMeta = obj.metadata
        uid, at_ns = meta.uid, obs.observed_at_ns
        if obs.change in GONE:
            current = ledger.current(uid)
            if current is not None and current.end is None:
                current.finish(Instant(at_ns, TimeSource.WATCH), Outcome.DELETED, reason="Deleted")
                ledger.ended(current)
            ledger.forget(uid)
            return
        key = f"gen-{meta.generation}" if self.rules.per_generation else "run"
        current = ledger.current(uid, key)
        if current is None:
            previous = ledger.current(uid)
            seen_ns = None
            if previous is not None:
                if _generation(previous) > meta.generation:
                    return  # an older version delivered late: nothing new
                # The new generation was written after the last observation of the old one.
                seen_ns = previous.state.last_observed_ns
                if previous.end is None:
                    new_start = self._start(meta, at_ns, seen_ns)
                    if new_start is None:  # no creationTimestamp to time it by: not an object
                        ledger.counters["observations.invalid"] += 1
                        return
                    previous.finish(new_start, Outcome.SUPERSEDED, reason="NewGeneration")
                    ledger.ended(previous)
                else:
                    previous = None  # it had ended: nothing to link as superseded
            if ledger.was_emitted(uid, key):
                return
            current = self._open(obj, key, at_ns, ledger, previous, seen_ns)
            if current is None:
                return
        if current.end is not None:
            return
        track: WorkloadTrack = current.state
        previous_ns = track.last_observed_ns
        track.last_observed_ns = at_ns
        if self.rules.desired is not None:
            track.desired = self.rules.desired(obj)
        verdict = self.rules.verdict(obj)
        if verdict.done or verdict.failed:
            # The verdict's own time, else the controller's last status write (managedFields):
            # a workload found already done must not look as if it ended when we looked.
            server_ns = parse_timestamp_ns(verdict.at) or _last_status_write(meta)
            if server_ns is not None:
                when = fuse(server_ns=server_ns, observed_at_ns=at_ns, previous_ns=previous_ns)
            elif previous_ns is not None:
                when = Instant(
                    max(at_ns, current.start.ns),
                    TimeSource.WATCH,
                    max(previous_ns, current.start.ns),
                )
            else:
                when = current.start  # done before we looked, and nothing says when
            if verdict.failed:
                current.finish(when, Outcome.FAILED, reason=verdict.failed)
            else:
                current.finish(when, Outcome.COMPLETED)
            ledger.ended(current)

    def event(self, lifecycle: Lifecycle, event: Event, observed_at_ns: int) -> None:
        when = event_instant(event, observed_at_ns=observed_at_ns)
        if when is None or lifecycle.end is not None:
            return
        lifecycle.state.events.append(
            SpanEvent(when.ns, event.reason, (("message", event.message), ("type", event.type)))
        )

    def top_name(self, lifecycle: Lifecycle) -> str:
        return self.rules.span_name

    def build(self, lifecycle: Lifecycle, builder: TraceBuilder, ledger: Ledger) -> None:
        track: WorkloadTrack = lifecycle.state
        assert lifecycle.end is not None and lifecycle.outcome is not None
        prefix = self.rules.attribute
        failed = lifecycle.outcome in (Outcome.FAILED, Outcome.TIMED_OUT)
        attrs: list[tuple[str, Any]] = [
            ("k8s.namespace.name", lifecycle.namespace),
            (f"{prefix}.name", lifecycle.name),
            (f"{prefix}.uid", lifecycle.uid),
            ("tracewatch.outcome", lifecycle.outcome.value),
        ]
        if self.rules.per_generation:
            attrs.append(("k8s.object.generation", track.generation))
        if self.rules.desired is not None:
            attrs.append(("k8s.replicas.desired", track.desired))
        if lifecycle.reason:
            attrs.append(("tracewatch.reason", lifecycle.reason))
        builder.top(
            name=self.rules.span_name,
            service=self.rules.service,
            start=top_start(lifecycle),
            end=top_end(lifecycle),
            attributes=tuple(attrs),
            events=tuple(track.events),
            status=StatusCode.ERROR if failed else StatusCode.UNSET,
            status_message=lifecycle.reason if failed else "",
        )

    def _open(
        self,
        obj: Any,
        key: str,
        at_ns: int,
        ledger: Ledger,
        previous: Lifecycle | None,
        seen_ns: int | None,
    ) -> Lifecycle | None:
        meta: WorkloadMeta = obj.metadata
        start = self._start(meta, at_ns, seen_ns)
        if start is None:
            ledger.counters["observations.invalid"] += 1
            return None
        lc = open_lifecycle(
            ledger,
            meta,
            kind=self.rules.kind.__name__,
            key=key,
            start=start,
            at_ns=at_ns,
            state=WorkloadTrack(generation=meta.generation),
        )
        if previous is not None:
            # Placement is resolved lazily, so the link is in place before anyone asks.
            placement = ledger.placement_of(previous.uid, previous.key)
            if placement is not None:
                lc.links.append(
                    SpanLink(
                        placement.trace_id, placement.span_id, (("tracewatch.link", "superseded"),)
                    )
                )
        return lc

    def _start(self, meta: WorkloadMeta, at_ns: int, previous_ns: int | None) -> Instant | None:
        """When this generation's desired state was written."""
        created = parse_timestamp_ns(meta.creation_timestamp)
        if created is None:
            return None
        if meta.generation <= 1 or not self.rules.per_generation:
            return fuse(server_ns=created, observed_at_ns=at_ns, previous_ns=previous_ns)
        spec_writes = [
            ns
            for f in meta.managed_fields
            if not f.subresource
            and (self.rules.spec_by_controller or f.manager not in _CONTROLLER_MANAGERS)
            and (ns := parse_timestamp_ns(f.time)) is not None
        ]
        written = max(spec_writes, default=created)
        return fuse(server_ns=written, observed_at_ns=at_ns, previous_ns=previous_ns)


def _last_status_write(meta: WorkloadMeta) -> int | None:
    writes = [
        ns
        for f in meta.managed_fields
        if f.subresource == "status" and (ns := parse_timestamp_ns(f.time)) is not None
    ]
    return max(writes, default=None)


def _generation(lc: Lifecycle) -> int:
    return lc.state.generation


def workload_trackers() -> list[WorkloadTracker]:
    return [WorkloadTracker(rules) for rules in RULES]
