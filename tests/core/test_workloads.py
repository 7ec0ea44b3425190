"""Rollouts, scale steps, superseding, self-healing and trace context, from hand-made streams."""

from __future__ import annotations

import random
from typing import Any

import msgspec

from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Deployment, ReplicaSet
from tracewatch.core.spans import SpanRecord

from .builders import MS, T0, PodStory, meta, obs, snapshot, workload_obs
from .test_properties import check_invariants

DEP, RS, RS2 = "dep-uid", "rs-uid", "rs2-uid"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def deployment(
    *,
    generation: int = 1,
    observed: int = 0,
    replicas: int = 2,
    updated: int = 0,
    ready: int = 0,
    total: int = 0,
    progressing: str = "",
    at_ns: int = T0,
    spec_written_ns: int | None = None,
    annotations: dict[str, str] | None = None,
) -> Deployment:
    conditions = []
    if progressing:
        conditions.append(
            {
                "type": "Progressing",
                "status": "True",
                "reason": progressing,
                "lastUpdateTime": _ts(at_ns),
                "lastTransitionTime": _ts(at_ns),
            }
        )
    return snapshot(
        Deployment,
        {
            "metadata": meta(
                "web",
                DEP,
                created_ns=T0,
                generation=generation,
                spec_written_ns=spec_written_ns,
                annotations=annotations,
            ),
            "spec": {"replicas": replicas},
            "status": {
                "observedGeneration": observed,
                "replicas": total,
                "updatedReplicas": updated,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "conditions": conditions,
            },
        },
    )


def replicaset(
    uid: str,
    *,
    created_ns: int,
    replicas: int,
    ready: int = 0,
    generation: int = 1,
    observed: int = 1,
    spec_written_ns: int | None = None,
) -> ReplicaSet:
    return snapshot(
        ReplicaSet,
        {
            "metadata": meta(
                f"web-{uid[:3]}",
                uid,
                created_ns=created_ns,
                generation=generation,
                owner=("Deployment", "web", DEP),
                spec_written_ns=spec_written_ns,
                manager="kube-controller-manager",
            ),
            "spec": {"replicas": replicas},
            "status": {
                "replicas": replicas,
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": observed,
            },
        },
    )


def _ts(ns: int) -> str:
    from .builders import ts

    return ts(ns)


def owned_pod(uid: str, *, created_ns: int, owner: str = RS) -> PodStory:
    story = PodStory(created_ns=created_ns, uid=uid, name=f"web-{uid}")
    story.obj["metadata"]["ownerReferences"] = [
        {"kind": "ReplicaSet", "name": "web-rs", "uid": owner, "controller": True}
    ]
    return story


def rollout_stream() -> tuple[list[Observation], list[Observation], list[Observation]]:
    """A first rollout of 2 replicas as three watch streams (deployments, replicasets, pods)."""
    deps = [
        workload_obs(T0 + 5 * MS, deployment(), Change.ADDED),
        workload_obs(
            T0 + 2_300 * MS,
            deployment(
                observed=1,
                updated=2,
                ready=2,
                total=2,
                progressing="NewReplicaSetAvailable",
                at_ns=T0 + 2_300 * MS,
            ),
        ),
    ]
    rss = [
        workload_obs(
            T0 + 100 * MS, replicaset(RS, created_ns=T0 + 100 * MS, replicas=2), Change.ADDED
        ),
        workload_obs(
            T0 + 2_200 * MS, replicaset(RS, created_ns=T0 + 100 * MS, replicas=2, ready=2)
        ),
    ]
    pods: list[Observation] = []
    for i, uid in enumerate(("p1", "p2")):
        story = owned_pod(uid, created_ns=T0 + 200 * MS)
        base = T0 + 200 * MS + i * 10 * MS
        pods += [
            obs(base + 5 * MS, story.snapshot(), Change.ADDED),
            obs(base + 300 * MS, story.schedule(base + 300 * MS)),
            obs(base + 1_000 * MS, story.started("app", base + 1_000 * MS)),
            obs(base + 1_800 * MS, story.condition("Ready", base + 1_800 * MS)),
        ]
    return deps, rss, pods


def _run(
    observations: list[Observation],
    *,
    until_ns: int = T0 + 3_600_000 * MS,
    engine: Engine | None = None,
) -> list[SpanRecord]:
    engine = engine or Engine(options=EngineOptions(settle_delay_ns=500 * MS))
    out: list[SpanRecord] = []
    for o in sorted(observations, key=lambda o: o.observed_at_ns):
        out += engine.observe(o)
    return out + engine.advance(until_ns)


def _named(spans: list[SpanRecord], name: str) -> list[SpanRecord]:
    return [s for s in spans if s.name == name]


def test_rollout_nests_replicaset_and_pods() -> None:
    """Deployment -> ReplicaSet -> Pods: one trace, each level a child of the one above."""
    deps, rss, pods = rollout_stream()
    spans = _run(deps + rss + pods)
    [rollout] = _named(spans, "k8s.RolloutDeployment")
    [scale] = _named(spans, "k8s.ScaleReplicaSet")
    creates = _named(spans, "k8s.CreatePod")
    assert rollout.is_root and rollout.service == "kube-controller-manager"
    assert rollout.attribute("tracewatch.outcome") == "completed"
    assert rollout.attribute("k8s.deployment.name") == "web"
    assert scale.parent_span_id == rollout.span_id
    assert len(creates) == 2
    assert all(c.parent_span_id == scale.span_id for c in creates)
    assert {s.trace_id for s in spans} == {rollout.trace_id}
    assert (rollout.start_ns - T0) // MS == 5
    assert (rollout.end_ns - T0) // MS == 2_300
    for child in spans:
        if child is not rollout:
            assert rollout.start_ns <= child.start_ns <= child.end_ns <= rollout.end_ns


def test_nesting_does_not_depend_on_cross_type_delivery_order() -> None:
    """Whatever order the three watches deliver in, the same ids and parentage come out."""
    deps, rss, pods = rollout_stream()
    reference = sorted(
        (s.name, s.trace_id, s.span_id, s.parent_span_id) for s in _run(deps + rss + pods)
    )
    rng = random.Random(7)
    for _ in range(20):
        # Each stream keeps its own order; streams drift against each other by up to 1.5 s.
        shifted: list[Observation] = []
        for stream in (deps, rss, pods):
            lag = rng.randint(0, 1_500) * MS
            shifted += [
                Observation(
                    observed_at_ns=o.observed_at_ns + lag,
                    change=o.change,
                    resource=o.resource,
                    obj=o.obj,
                )
                for o in stream
            ]
        got = _run(shifted)
        check_invariants(got)
        assert sorted((s.name, s.trace_id, s.span_id, s.parent_span_id) for s in got) == reference


def test_drain_lets_an_owner_leave_without_its_running_child() -> None:
    """On shutdown a completed rollout whose pod is still starting is emitted, without the pod."""
    deps, rss, pods = rollout_stream()
    unfinished = [o for o in pods if not (o.obj.metadata.uid == "p2" and o is pods[-1])]
    engine = Engine(options=EngineOptions(settle_delay_ns=500 * MS))
    out: list[SpanRecord] = []
    for o in sorted(deps + rss + unfinished, key=lambda o: o.observed_at_ns):
        out += engine.observe(o)
    assert not _named(out, "k8s.RolloutDeployment")  # still waiting for p2
    out += engine.drain()
    [rollout] = _named(out, "k8s.RolloutDeployment")
    [scale] = _named(out, "k8s.ScaleReplicaSet")
    [create] = _named(out, "k8s.CreatePod")
    assert create.attribute("k8s.pod.uid") == "p1"
    assert create.parent_span_id == scale.span_id and scale.parent_span_id == rollout.span_id
    assert engine.tracked == 1  # p2's startup stays open, unreported
    check_invariants(out)


def test_new_generation_supersedes_unfinished_rollout() -> None:
    """Gen 2 before gen 1 finished: gen 1 ends superseded at gen 2's start, gen 2 links to it,
    and pods created after the change belong to the new trace."""
    change_ns = T0 + 5_000 * MS
    stream = [
        workload_obs(T0 + 5 * MS, deployment(), Change.ADDED),
        workload_obs(T0 + 300 * MS, deployment(observed=1, updated=1, total=1)),
        workload_obs(
            change_ns + 3 * MS,
            deployment(generation=2, observed=1, updated=1, total=1, spec_written_ns=change_ns),
        ),
        workload_obs(
            T0 + 100 * MS, replicaset(RS, created_ns=T0 + 100 * MS, replicas=2), Change.ADDED
        ),
        workload_obs(
            change_ns + 50 * MS,
            replicaset(RS2, created_ns=change_ns + 40 * MS, replicas=2),
            Change.ADDED,
        ),
        workload_obs(
            T0 + 9_000 * MS, replicaset(RS2, created_ns=change_ns + 40 * MS, replicas=2, ready=2)
        ),
        workload_obs(
            T0 + 9_100 * MS,
            deployment(
                generation=2,
                observed=2,
                updated=2,
                total=2,
                ready=2,
                progressing="NewReplicaSetAvailable",
                at_ns=T0 + 9_100 * MS,
                spec_written_ns=change_ns,
            ),
        ),
    ]
    late = owned_pod("late", created_ns=change_ns + 100 * MS, owner=RS2)
    stream += [
        obs(change_ns + 105 * MS, late.snapshot(), Change.ADDED),
        obs(change_ns + 2_000 * MS, late.started("app", change_ns + 2_000 * MS)),
        obs(change_ns + 2_500 * MS, late.condition("Ready", change_ns + 2_500 * MS)),
    ]
    spans = _run(stream)
    rollouts = sorted(_named(spans, "k8s.RolloutDeployment"), key=lambda s: s.start_ns)
    assert [r.attribute("tracewatch.outcome") for r in rollouts] == ["superseded", "completed"]
    old, new = rollouts
    assert old.end_ns == new.start_ns == change_ns + 3 * MS
    assert old.trace_id != new.trace_id
    assert [(link.trace_id, link.span_id) for link in new.links] == [(old.trace_id, old.span_id)]
    [pod] = _named(spans, "k8s.CreatePod")
    assert pod.trace_id == new.trace_id


def test_progress_deadline_fails_the_rollout() -> None:
    """Progressing=False/ProgressDeadlineExceeded ends the rollout as failed."""
    stream = [
        workload_obs(T0 + 5 * MS, deployment(), Change.ADDED),
        workload_obs(
            T0 + 600_000 * MS,
            deployment(
                observed=1,
                updated=2,
                total=2,
                progressing="ProgressDeadlineExceeded",
                at_ns=T0 + 600_000 * MS,
            ),
        ),
    ]
    [rollout] = _named(_run(stream), "k8s.RolloutDeployment")
    assert rollout.attribute("tracewatch.outcome") == "failed"
    assert rollout.attribute("tracewatch.reason") == "ProgressDeadlineExceeded"
    assert rollout.status.name == "ERROR"


def test_self_healing_pod_gets_own_trace_linked_to_owner() -> None:
    """A pod replaced long after the last scale step is its own trace, linked to that step."""
    deps, rss, pods = rollout_stream()
    replacement = owned_pod("p3", created_ns=T0 + 60_000 * MS)
    later = [
        obs(T0 + 60_005 * MS, replacement.snapshot(), Change.ADDED),
        obs(T0 + 61_000 * MS, replacement.started("app", T0 + 61_000 * MS)),
        obs(T0 + 61_500 * MS, replacement.condition("Ready", T0 + 61_500 * MS)),
    ]
    spans = _run(deps + rss + pods + later)
    [scale] = _named(spans, "k8s.ScaleReplicaSet")
    healed = next(
        s for s in spans if s.attribute("k8s.pod.uid") == "p3" and s.name == "k8s.CreatePod"
    )
    assert healed.is_root and healed.trace_id != scale.trace_id
    assert [(link.trace_id, link.span_id) for link in healed.links] == [
        (scale.trace_id, scale.span_id)
    ]


def test_trace_context_annotation_continues_the_callers_trace() -> None:
    """A W3C traceparent on the Deployment makes its rollout a child of that remote span,
    and the ReplicaSet and pods it creates inherit the trace."""
    deps, rss, pods = rollout_stream()
    annotated = [
        workload_obs(
            o.observed_at_ns,
            deployment(
                **(
                    {}
                    if i == 0
                    else dict(
                        observed=1,
                        updated=2,
                        ready=2,
                        total=2,
                        progressing="NewReplicaSetAvailable",
                        at_ns=o.observed_at_ns,
                    )
                ),
                annotations={"tracing.k8s.io/traceparent": TRACEPARENT},
            ),
            o.change,
        )
        for i, o in enumerate(deps)
    ]
    spans = _run(annotated + rss + pods)
    [rollout] = _named(spans, "k8s.RolloutDeployment")
    assert rollout.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert rollout.parent_span_id.hex() == "b7ad6b7169203331"
    assert {s.trace_id for s in spans} == {rollout.trace_id}


def test_garbage_trace_context_is_counted_and_ignored() -> None:
    """An unparsable annotation does not break the rollout; it is counted."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    bad = {"trace.kubernetes.io/context": "not-a-context!"}
    spans = _run(
        [
            workload_obs(T0 + 5 * MS, deployment(annotations=bad), Change.ADDED),
            workload_obs(
                T0 + 900 * MS,
                deployment(
                    observed=1,
                    updated=2,
                    ready=2,
                    total=2,
                    annotations=bad,
                    progressing="NewReplicaSetAvailable",
                    at_ns=T0 + 900 * MS,
                ),
            ),
        ],
        engine=engine,
    )
    [rollout] = _named(spans, "k8s.RolloutDeployment")
    assert rollout.is_root
    assert engine.counters["trace_context.invalid"] >= 1


def _graceful_delete(story: PodStory, *, requested_ns: int, grace: int = 30) -> dict[str, Any]:
    story.obj["metadata"]["deletionTimestamp"] = _ts(requested_ns + grace * 1_000 * MS)
    story.obj["metadata"]["deletionGracePeriodSeconds"] = grace
    return story.obj


DELETION_REQUESTED_NS = T0 + 10_000 * MS


def deletion_stream() -> list[Observation]:
    """A pod started, then deleted gracefully: request, Killing, terminated, DELETED."""
    from .builders import kubelet_event

    story = PodStory(created_ns=T0, uid="victim", name="victim")
    requested = DELETION_REQUESTED_NS
    stream = [
        obs(T0 + 5 * MS, story.snapshot(), Change.ADDED),
        obs(T0 + 100 * MS, story.schedule(T0 + 100 * MS)),
        obs(T0 + 500 * MS, story.started("app", T0 + 500 * MS)),
        obs(T0 + 900 * MS, story.condition("Ready", T0 + 900 * MS)),
    ]
    _graceful_delete(story, requested_ns=requested)
    stream.append(obs(requested + 4 * MS, story.snapshot()))
    stream.append(
        obs(
            requested + 104 * MS,
            kubelet_event(
                pod_name="victim", uid="victim", reason="Killing", at_ns=requested + 100 * MS
            ),
        )
    )
    story.obj["status"]["containerStatuses"] = [
        {
            "name": "app",
            "state": {"terminated": {"exitCode": 0, "finishedAt": _ts(requested + 2_000 * MS)}},
        }
    ]
    stream.append(obs(requested + 2_010 * MS, story.snapshot()))
    stream.append(obs(requested + 2_500 * MS, story.snapshot(), Change.DELETED))
    return stream


def test_pod_deletion_and_kill() -> None:
    """DeletePod runs from the deletion request to the DELETED event; KillPod inside it
    from the kubelet's Killing event to the containers' termination."""
    requested = DELETION_REQUESTED_NS
    stream = deletion_stream()
    spans = _run(stream)
    [delete] = _named(spans, "k8s.DeletePod")
    [kill] = _named(spans, "kubelet.KillPod")
    assert ((delete.start_ns - requested) // MS, (delete.end_ns - requested) // MS) == (4, 2_500)
    assert kill.parent_span_id == delete.span_id
    assert ((kill.start_ns - requested) // MS, (kill.end_ns - requested) // MS) == (100, 2_010)
    [create] = _named(spans, "k8s.CreatePod")
    assert create.attribute("tracewatch.outcome") == "completed"


def test_deletion_during_startup_ends_it_as_deleted() -> None:
    """A deletion request before Ready ends the startup there with outcome deleted."""
    story = PodStory(created_ns=T0, uid="early", name="early")
    requested = T0 + 300 * MS
    stream = [obs(T0 + 5 * MS, story.snapshot(), Change.ADDED)]
    _graceful_delete(story, requested_ns=requested, grace=0)
    stream.append(obs(requested, story.snapshot()))
    stream.append(obs(requested + 50 * MS, story.snapshot(), Change.DELETED))
    spans = _run(stream)
    [create] = _named(spans, "k8s.CreatePod")
    assert create.attribute("tracewatch.outcome") == "deleted"
    assert create.end_ns == requested


def test_two_quick_updates_supersede_in_turn() -> None:
    """Gen 2 then gen 3 within 100 ms: gen 2's trace ends superseded at gen 3's start,
    links chain gen 3 -> gen 2, and only gen 3 completes."""
    g2, g3 = T0 + 10_000 * MS, T0 + 10_100 * MS
    stream = [
        workload_obs(
            T0 + 5 * MS,
            deployment(
                observed=1, updated=2, ready=2, total=2, progressing="NewReplicaSetAvailable"
            ),
            Change.ADDED,
        ),
        workload_obs(
            g2 + 2 * MS,
            deployment(generation=2, observed=1, updated=2, ready=2, total=2, spec_written_ns=g2),
        ),
        workload_obs(
            g3 + 2 * MS,
            deployment(generation=3, observed=1, updated=2, ready=2, total=2, spec_written_ns=g3),
        ),
        workload_obs(
            T0 + 14_000 * MS,
            deployment(
                generation=3,
                observed=3,
                updated=2,
                ready=2,
                total=2,
                progressing="NewReplicaSetAvailable",
                at_ns=T0 + 14_000 * MS,
                spec_written_ns=g3,
            ),
        ),
    ]
    rollouts = sorted(_named(_run(stream), "k8s.RolloutDeployment"), key=lambda s: s.start_ns)
    outcomes = [
        (r.attribute("k8s.object.generation"), r.attribute("tracewatch.outcome")) for r in rollouts
    ]
    assert outcomes == [(1, "completed"), (2, "superseded"), (3, "completed")]
    second, third = rollouts[1], rollouts[2]
    assert second.end_ns == third.start_ns == g3 + 2 * MS
    assert [(link.trace_id, link.span_id) for link in third.links] == [
        (second.trace_id, second.span_id)
    ]


def test_daemonset_rollout_completes_by_rollout_status_rules() -> None:
    """A DaemonSet generation completes when updated and available reach desired."""
    from tracewatch.core.snapshots import DaemonSet

    def ds(updated: int, available: int, observed: int = 1) -> DaemonSet:
        return snapshot(
            DaemonSet,
            {
                "metadata": meta("agent", "ds-1", created_ns=T0),
                "status": {
                    "observedGeneration": observed,
                    "desiredNumberScheduled": 3,
                    "updatedNumberScheduled": updated,
                    "numberAvailable": available,
                },
            },
        )

    stream = [
        workload_obs(T0 + 5 * MS, ds(0, 0, observed=0), Change.ADDED),
        workload_obs(T0 + 1_000 * MS, ds(3, 2)),
        workload_obs(T0 + 2_000 * MS, ds(3, 3)),
    ]
    [rollout] = _named(_run(stream), "k8s.RolloutDaemonSet")
    assert rollout.attribute("tracewatch.outcome") == "completed"
    assert (rollout.end_ns - T0) // MS == 2_000
    assert rollout.attribute("k8s.daemonset.name") == "agent"


def test_unschedulable_then_scheduled_records_failed_attempts() -> None:
    """FailedScheduling Events become span events on scheduler.SchedulePod."""
    from .builders import scheduler_event

    story = PodStory(created_ns=T0, uid="big", name="big")
    stream = [
        obs(T0 + 5 * MS, story.snapshot(), Change.ADDED),
        obs(
            T0 + 50 * MS,
            scheduler_event(
                pod_name="big",
                uid="big",
                reason="FailedScheduling",
                message="0/3 nodes are available: 3 Insufficient cpu.",
                at_ns=T0 + 40 * MS,
            ),
        ),
        obs(T0 + 5_050 * MS, scheduler_event(pod_name="big", uid="big", at_ns=T0 + 5_040 * MS)),
        obs(T0 + 5_060 * MS, story.schedule(T0 + 5_045 * MS)),
        obs(T0 + 6_000 * MS, story.started("app", T0 + 6_000 * MS)),
        obs(T0 + 6_500 * MS, story.condition("Ready", T0 + 6_500 * MS)),
    ]
    [schedule] = _named(_run(stream), "scheduler.SchedulePod")
    assert (schedule.end_ns - T0) // MS == 5_040
    assert [(e.name, (e.time_ns - T0) // MS) for e in schedule.events] == [("FailedScheduling", 40)]
    assert "Insufficient cpu" in str(schedule.events[0].attributes)


def test_steady_replicaset_found_at_start_up_is_history() -> None:
    """A ReplicaSet that reached its replicas an hour before we looked ends at its last status
    write (managedFields), so back-fill leaves it out instead of tracing creation -> now."""
    now = T0 + 3_600_000 * MS
    steady = snapshot(
        ReplicaSet,
        {
            "metadata": meta(
                "web-abc",
                RS,
                created_ns=T0,
                owner=("Deployment", "web", DEP),
                manager="kube-controller-manager",
                status_written_ns=T0 + 2_000 * MS,
            ),
            "spec": {"replicas": 2},
            "status": {
                "replicas": 2,
                "readyReplicas": 2,
                "availableReplicas": 2,
                "observedGeneration": 1,
            },
        },
    )
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    spans = _run([workload_obs(now, steady, Change.ADDED)], engine=engine)
    assert spans == []
    assert engine.counters["lifecycles.skipped_history"] == 1


def test_new_generation_without_a_valid_creation_time_is_counted_not_fatal() -> None:
    """A malformed object (no parsable creationTimestamp) of a new generation is counted
    invalid; it neither ends the open rollout with no time nor stops the engine, and the
    next good observation supersedes the old generation as usual."""
    engine = Engine(options=EngineOptions(settle_delay_ns=500 * MS))
    change_ns = T0 + 5_000 * MS
    engine.observe(workload_obs(T0 + 5 * MS, deployment(), Change.ADDED))
    good = deployment(generation=2, observed=1, spec_written_ns=change_ns)
    broken = msgspec.structs.replace(
        good, metadata=msgspec.structs.replace(good.metadata, creation_timestamp="yesterday")
    )
    assert engine.observe(workload_obs(change_ns + 2 * MS, broken)) == []
    assert engine.counters["observations.invalid"] == 1
    gen1 = engine.current(DEP, "gen-1")
    assert gen1 is not None and gen1.end is None
    spans = _run([workload_obs(change_ns + 3 * MS, good)], engine=engine)
    old, new = sorted(_named(spans, "k8s.RolloutDeployment"), key=lambda s: s.start_ns)
    assert old.attribute("tracewatch.outcome") == "superseded"
    assert old.end_ns == new.start_ns == change_ns + 3 * MS
