"""ReplicaSet and Deployment controllers: what they write, checked against the real controllers."""

from __future__ import annotations

import asyncio
import re

from tests.sim.conftest import MakeSim
from tests.sim.control import CONTROL, events_of, history, owned, update
from tracewatch.sim.controllers.deployment_status import deployment_status
from tracewatch.sim.controllers.rollout import fenceposts
from tracewatch.sim.timestamps import NS_PER_S, rfc3339
from tracewatch.sim.workload_manifests import container, deployment_manifest, pod_template


def _set_image(image: str, **env: float):
    def mutate(obj):
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
        main = obj["spec"]["template"]["spec"]["containers"][0]
        main.pop("env", None)
        if env:
            main["env"] = [{"name": k, "value": str(v)} for k, v in env.items()]

    return mutate


async def test_replicaset_pods_carry_generate_name_owner_and_template_labels(
    make_sim: MakeSim,
) -> None:
    """replica_set.go: `<rs>-xxxxx` pods, controller/blockOwnerDeletion refs, SuccessfulCreate."""
    sim = await make_sim(**CONTROL)
    rs = await sim.create(
        "replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "front"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "front"}},
                "template": pod_template({"app": "front"}),
            },
        },
    )
    uid = rs["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready:2", timeout=5)
    pods = owned(sim, "pods", uid)
    assert len(pods) == 2
    for pod in pods:
        assert re.fullmatch(r"front-[bcdfghjklmnpqrstvwxz2456789]{5}", pod["metadata"]["name"])
        assert pod["metadata"]["generateName"] == "front-"
        assert pod["metadata"]["labels"] == {"app": "front"}
        assert pod["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "front",
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    creates = [e for e in events_of(sim, uid) if e["reason"] == "SuccessfulCreate"]
    assert sorted(e["message"] for e in creates) == sorted(
        f"Created pod: {p['metadata']['name']}" for p in pods
    )
    assert all(e["source"] == {"component": "replicaset-controller"} for e in creates)
    status = sim.get("replicasets", "front")["status"]
    assert status == {
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 1,
    }


async def test_replicaset_status_trails_creation_and_scale_down_deletes(make_sim: MakeSim) -> None:
    """Status comes from the cache before creations (replicas 0 first); scale-down deletes pods."""
    sim = await make_sim(**CONTROL)
    rv = sim.store.rv
    rs = await sim.create(
        "replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "tail"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "tail"}},
                "template": pod_template({"app": "tail"}),
            },
        },
    )
    uid = rs["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready:3", timeout=5)
    statuses = [
        o.get("status") for t, o in history(sim, "replicasets", since=rv) if t == "MODIFIED"
    ]
    assert statuses[0] == {"replicas": 0, "observedGeneration": 1}
    assert [s["replicas"] for s in statuses] == sorted(s["replicas"] for s in statuses)

    def scale(obj):
        obj["spec"]["replicas"] = 1

    update(sim, "replicasets", "tail", scale)
    await sim.truth.wait_for(uid, "ready:1", timeout=5)
    deletes = [e for e in events_of(sim, uid) if e["reason"] == "SuccessfulDelete"]
    assert len(deletes) == 2
    assert sim.get("replicasets", "tail")["status"]["observedGeneration"] == 2


async def test_replicaset_available_waits_for_min_ready_seconds(make_sim: MakeSim) -> None:
    """IsPodAvailable: a Ready pod counts as available only after minReadySeconds."""
    sim = await make_sim(**CONTROL)
    rs = await sim.create(
        "replicasets",
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": "slow"},
            "spec": {
                "replicas": 1,
                "minReadySeconds": 1,
                "selector": {"matchLabels": {"app": "slow"}},
                "template": pod_template({"app": "slow"}),
            },
        },
    )
    uid = rs["metadata"]["uid"]
    ready = await sim.truth.wait_for(uid, "ready:1", timeout=5)
    (pod,) = owned(sim, "pods", uid)
    (became_ready,) = (
        c["lastTransitionTime"] for c in pod["status"]["conditions"] if c["type"] == "Ready"
    )
    available = await sim.truth.wait_for(uid, "available:1", timeout=5)
    # Available once Ready's lastTransitionTime + minReadySeconds has passed. That stamp is
    # second-truncated, so availability may come < 1 s after Ready (too soon to look for the
    # status without it in between), never before the stamp + 1 s. Same-form RFC 3339
    # strings order as their times; the stamp is a whole second, so truncating is exact.
    assert rfc3339(available - NS_PER_S) >= became_ready
    assert available > ready
    assert sim.get("replicasets", "slow")["status"]["availableReplicas"] == 1


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    """ResolveFenceposts: surge % rounds up, unavailable down; both zero gives unavailable 1."""
    assert fenceposts(deployment_manifest("a", replicas=3)) == (1, 0)
    assert fenceposts(deployment_manifest("a", replicas=10)) == (3, 2)
    zero = deployment_manifest(
        "a",
        replicas=3,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
    )
    assert fenceposts(zero) == (0, 1)


async def test_deployment_rollout_writes_replicasets_events_and_conditions(
    make_sim: MakeSim,
) -> None:
    """sync.go/progress.go: `<d>-<hash>` RS, revision annotations, ScalingReplicaSet, conditions."""
    sim = await make_sim(**CONTROL)
    d = await sim.create("deployments", deployment_manifest("web", replicas=3))
    uid = d["metadata"]["uid"]
    first = await sim.truth.wait_for(uid, "rollout_complete:1", timeout=5)
    update(sim, "deployments", "web", _set_image("nginx:1.28"))
    await sim.truth.wait_for(uid, "rollout_complete:2", timeout=5)

    rss = {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
        for r in owned(sim, "replicasets", uid)
    }
    old, new = rss["1"], rss["2"]
    pod_hash = new["metadata"]["labels"]["pod-template-hash"]
    assert new["metadata"]["name"] == f"web-{pod_hash}"
    assert new["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": pod_hash}
    assert new["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == pod_hash
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "3"
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "4"
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 3

    messages = [e["message"] for e in events_of(sim, uid)]
    o, n = old["metadata"]["name"], new["metadata"]["name"]
    assert messages == [
        f"Scaled up replica set {o} to 3",
        f"Scaled up replica set {n} to 1",
        f"Scaled down replica set {o} to 2 from 3",
        f"Scaled up replica set {n} to 2 from 1",
        f"Scaled down replica set {o} to 1 from 2",
        f"Scaled up replica set {n} to 3 from 2",
        f"Scaled down replica set {o} to 0 from 1",
    ]
    final = sim.get("deployments", "web")
    assert final["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert final["status"]["observedGeneration"] == 2
    assert {
        k: final["status"][k]
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    } == dict.fromkeys(("replicas", "updatedReplicas", "readyReplicas", "availableReplicas"), 3)
    conditions = {c["type"]: c for c in final["status"]["conditions"]}
    assert [c["type"] for c in final["status"]["conditions"]] == ["Available", "Progressing"]
    assert conditions["Available"]["reason"] == "MinimumReplicasAvailable"
    assert conditions["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert conditions["Progressing"]["message"] == f'ReplicaSet "{n}" has successfully progressed.'
    # Progressing stayed True throughout: its transition time is the first rollout's start.
    assert conditions["Progressing"]["lastTransitionTime"] <= rfc3339(first)


async def test_rolling_update_respects_max_surge_and_max_unavailable(make_sim: MakeSim) -> None:
    """rolling.go: pods <= replicas+maxSurge and available >= replicas-maxUnavailable throughout."""
    sim = await make_sim(**CONTROL)
    manifest = deployment_manifest(
        "roll",
        replicas=4,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}},
    )
    d = await sim.create("deployments", manifest)
    uid = d["metadata"]["uid"]
    await sim.truth.wait_for(uid, "rollout_complete:1", timeout=5)
    rv = sim.store.rv
    update(sim, "deployments", "roll", _set_image("nginx:1.28"))
    await sim.truth.wait_for(uid, "rollout_complete:2", timeout=5)
    replicas: dict[str, int] = {
        r["metadata"]["name"]: r["spec"]["replicas"] for r in owned(sim, "replicasets", uid)
    }
    available: dict[str, int] = {}
    for _, rs in history(sim, "replicasets", since=rv):
        name = rs["metadata"]["name"]
        replicas[name] = rs["spec"]["replicas"]
        available[name] = rs.get("status", {}).get("availableReplicas", 0)
        assert sum(replicas.values()) <= 5
    _, deployment_history = zip(*history(sim, "deployments", since=rv), strict=True)
    assert all(
        d.get("status", {}).get("availableReplicas", 0) >= 3
        for d in deployment_history
        if d.get("status", {}).get("observedGeneration") == 2
    )


async def test_update_during_rollout_supersedes_it(make_sim: MakeSim) -> None:
    """Only the latest template counts: v2's RS scaled away, v3 completes, superseded:2 in truth."""
    sim = await make_sim(**CONTROL)
    d = await sim.create("deployments", deployment_manifest("api", replicas=3))
    uid = d["metadata"]["uid"]
    await sim.truth.wait_for(uid, "rollout_complete:1", timeout=5)
    update(sim, "deployments", "api", _set_image("nginx:1.28", SIM_READY_DELAY_SECONDS=5))
    while len(owned(sim, "replicasets", uid)) < 2:  # v2's ReplicaSet is out: mid-rollout
        await asyncio.sleep(0.01)
    update(sim, "deployments", "api", _set_image("nginx:1.29"))
    done = await sim.truth.wait_for(uid, "rollout_complete:3", timeout=5)
    times = sim.truth.times(uid)
    assert "rollout_complete:2" not in times
    assert times["superseded:2"] == times["rollout_started:3"] < done
    by_revision = {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: r
        for r in owned(sim, "replicasets", uid)
    }
    assert by_revision["2"]["spec"]["replicas"] == 0
    assert by_revision["3"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.29"


async def test_stuck_rollout_reports_progress_deadline_exceeded(make_sim: MakeSim) -> None:
    """progress.go: no progress within the deadline: Progressing=False ProgressDeadlineExceeded."""
    sim = await make_sim(**CONTROL)
    template = pod_template(
        {"app": "stuck"},
        containers=[container(image="ghcr.io/example/missing:1", pull_error="not found")],
    )
    d = await sim.create(
        "deployments",
        deployment_manifest("stuck", replicas=1, template=template, progress_deadline_seconds=1),
    )
    uid = d["metadata"]["uid"]
    await sim.truth.wait_for(uid, "rollout_failed:1", timeout=5)
    conditions = {c["type"]: c for c in sim.get("deployments", "stuck")["status"]["conditions"]}
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded"
    assert conditions["Progressing"]["message"].endswith("has timed out progressing.")
    assert conditions["Available"] == {
        **conditions["Available"],
        "status": "False",
        "reason": "MinimumReplicasUnavailable",
    }


def _stalled(*, updated_ago_s: int, deadline_s: int) -> tuple[dict, list[dict], int]:
    """A Deployment at generation 2 whose new ReplicaSet has made no progress since its
    Progressing condition was last updated `updated_ago_s` seconds ago."""
    at_ns = 1_700_000_000 * NS_PER_S
    then = rfc3339(at_ns - updated_ago_s * NS_PER_S)
    status = {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "unavailableReplicas": 1,
        "conditions": [
            {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "lastUpdateTime": then,
                "lastTransitionTime": then,
            }
        ],
    }
    d = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 2, "progressDeadlineSeconds": deadline_s},
        "status": status,
    }
    new = {"metadata": {"name": "web-new"}, "spec": {"replicas": 1}, "status": {"replicas": 1}}
    old = {
        "metadata": {"name": "web-old"},
        "spec": {"replicas": 2},
        "status": {"replicas": 2, "availableReplicas": 2, "readyReplicas": 2},
    }
    return d, [old, new], at_ns


def test_progress_deadline_is_rechecked_then_exceeded_without_progress() -> None:
    """progress.go: without progress, requeue for when progressDeadlineSeconds since the
    Progressing lastUpdateTime falls due; past it, Progressing False ProgressDeadlineExceeded."""
    d, rss, at_ns = _stalled(updated_ago_s=100, deadline_s=600)
    waiting = deployment_status(d, rss, rss[1], at_ns=at_ns)
    assert not waiting.timed_out and not waiting.complete
    assert waiting.recheck_after_s is not None and 500 < waiting.recheck_after_s < 501
    d, rss, at_ns = _stalled(updated_ago_s=700, deadline_s=600)
    late = deployment_status(d, rss, rss[1], at_ns=at_ns)
    assert late.timed_out and late.recheck_after_s is None
    progressing = [c for c in late.status["conditions"] if c["type"] == "Progressing"]
    assert [(c["status"], c["reason"]) for c in progressing] == [
        ("False", "ProgressDeadlineExceeded")
    ]
    assert progressing[0]["message"] == 'ReplicaSet "web-new" has timed out progressing.'
