"""StatefulSet, Job, DaemonSet controllers and the garbage collector vs the real ones' writes."""

from __future__ import annotations

from tests.sim.conftest import MakeSim
from tests.sim.control import CONTROL, events_of, owned, update
from tracewatch.sim.workload_manifests import (
    daemonset_manifest,
    deployment_manifest,
    job_manifest,
    statefulset_manifest,
)


async def test_ordered_ready_statefulset_creates_claims_then_pods_one_at_a_time(
    make_sim: MakeSim,
) -> None:
    """OrderedReady: `<sts>-<i>` only once `<sts>-<i-1>` is Ready; its claims are created first."""
    sim = await make_sim(**CONTROL)
    sts = await sim.create(
        "statefulsets", statefulset_manifest("db", replicas=3, storage_class="fast")
    )
    uid = sts["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready:3", timeout=10)
    truth = sim.truth
    pods = [truth.uid_of(namespace="default", name=f"db-{i}") for i in range(3)]
    claims = [
        truth.uid_of(resource="persistentvolumeclaims", namespace="default", name=f"data-db-{i}")
        for i in range(3)
    ]
    for i in range(3):
        assert truth.times(claims[i])["created"] <= truth.times(pods[i])["created"]
        if i:
            assert truth.times(pods[i])["created"] > truth.times(pods[i - 1])["ready"]
    pod = sim.get("pods", "db-1")
    labels = pod["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert labels["apps.kubernetes.io/pod-index"] == "1"
    assert pod["spec"]["hostname"] == "db-1" and pod["spec"]["subdomain"] == "db"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"][
        "volumes"
    ]
    messages = [e["message"] for e in events_of(sim, uid)][:2]
    assert messages == [
        "create Claim data-db-0 Pod db-0 in StatefulSet db success",
        "create Pod db-0 in StatefulSet db successful",
    ]
    status = sim.get("statefulsets", "db")["status"]
    assert status["replicas"] == status["readyReplicas"] == status["updatedReplicas"] == 3
    assert (
        status["currentRevision"] == status["updateRevision"] == labels["controller-revision-hash"]
    )
    assert sim.get("controllerrevisions", status["updateRevision"])["revision"] == 1


async def test_statefulset_rolling_update_replaces_highest_ordinal_first(make_sim: MakeSim) -> None:
    """RollingUpdate: pods are deleted and recreated in reverse ordinal order, revision moves on."""
    sim = await make_sim(**CONTROL)
    sts = await sim.create(
        "statefulsets",
        statefulset_manifest("kv", replicas=3, claims=(), pod_management_policy="Parallel"),
    )
    uid = sts["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready:3", timeout=5)
    first_revision = sim.get("statefulsets", "kv")["status"]["updateRevision"]

    def bump(obj: dict) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    update(sim, "statefulsets", "kv", bump)
    await sim.truth.wait_for(uid, "rollout_complete:2", timeout=10)
    deletions = [e["message"] for e in events_of(sim, uid) if e["reason"] == "SuccessfulDelete"]
    assert deletions == [f"delete Pod kv-{i} in StatefulSet kv successful" for i in (2, 1, 0)]
    status = sim.get("statefulsets", "kv")["status"]
    assert status["currentRevision"] == status["updateRevision"] != first_revision
    revisions = {
        p["metadata"]["labels"]["controller-revision-hash"] for p in owned(sim, "pods", uid)
    }
    assert revisions == {status["updateRevision"]}


async def test_job_completes_with_success_criteria_and_complete_conditions(
    make_sim: MakeSim,
) -> None:
    """1.31+: SuccessCriteriaMet then Complete (CompletionsReached), completionTime, succeeded."""
    sim = await make_sim(**CONTROL)
    job = await sim.create(
        "jobs", job_manifest("batch", completions=3, parallelism=2, run_seconds=0.05)
    )
    uid = job["metadata"]["uid"]
    await sim.truth.wait_for(uid, "complete", timeout=5)
    status = sim.get("jobs", "batch")["status"]
    assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert {c["reason"] for c in status["conditions"]} == {"CompletionsReached"}
    assert status["succeeded"] == 3 and "active" not in status
    assert status["startTime"] <= status["completionTime"]
    pods = owned(sim, "pods", uid)
    assert len(pods) == 3
    assert pods[0]["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "batch"
    assert pods[0]["spec"]["restartPolicy"] == "Never"
    assert events_of(sim, uid)[-1]["message"] == "Job completed"


async def test_job_fails_when_backoff_limit_is_exceeded(make_sim: MakeSim) -> None:
    """Failed pods beyond backoffLimit: FailureTarget then Failed, reason BackoffLimitExceeded."""
    sim = await make_sim(**CONTROL)
    job = await sim.create(
        "jobs", job_manifest("flaky", backoff_limit=1, run_seconds=0.02, exit_code=1)
    )
    uid = job["metadata"]["uid"]
    await sim.truth.wait_for(uid, "failed", timeout=5)
    status = sim.get("jobs", "flaky")["status"]
    assert [(c["type"], c["reason"]) for c in status["conditions"]] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]
    assert status["failed"] == 2
    last = events_of(sim, uid)[-1]
    assert (last["type"], last["reason"]) == ("Warning", "BackoffLimitExceeded")


async def test_daemonset_runs_one_pod_per_node_through_node_affinity(make_sim: MakeSim) -> None:
    """One pod per node, pinned by matchFields metadata.name affinity; status counts all nodes."""
    sim = await make_sim(**CONTROL)
    ds = await sim.create("daemonsets", daemonset_manifest("agent"))
    uid = ds["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready:3", timeout=5)
    pods = owned(sim, "pods", uid)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["node-1", "node-2", "node-3"]
    for pod in pods:
        term = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["nodeSelectorTerms"][0]["matchFields"][0]["values"] == [pod["spec"]["nodeName"]]
    status = sim.get("daemonsets", "agent")["status"]
    assert status == {
        "currentNumberScheduled": 3,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 3,
        "numberReady": 3,
        "observedGeneration": 1,
        "updatedNumberScheduled": 3,
        "numberAvailable": 3,
    }


async def test_background_deletion_removes_replicasets_and_pods_after_the_owner(
    make_sim: MakeSim,
) -> None:
    """Garbage collection: a deleted Deployment's ReplicaSet goes, then its pods (gracefully)."""
    sim = await make_sim(**CONTROL)
    d = await sim.create("deployments", deployment_manifest("gone", replicas=2))
    uid = d["metadata"]["uid"]
    await sim.truth.wait_for(uid, "rollout_complete:1", timeout=5)
    rs_uid = owned(sim, "replicasets", uid)[0]["metadata"]["uid"]
    pod_uids = [p["metadata"]["uid"] for p in owned(sim, "pods", rs_uid)]
    await sim.delete("deployments", "gone")
    owner_gone = sim.truth.times(uid)["deleted"]
    rs_gone = await sim.truth.wait_for(rs_uid, "deleted", timeout=5)
    for pod_uid in pod_uids:
        assert await sim.truth.wait_for(pod_uid, "deleted", timeout=5) > rs_gone > owner_gone
        assert "deletion_requested" in sim.truth.times(pod_uid)


async def test_foreground_deletion_keeps_the_owner_until_dependents_are_gone(
    make_sim: MakeSim,
) -> None:
    """Foreground: the owner keeps foregroundDeletion until its dependents are gone, then goes."""
    sim = await make_sim(**CONTROL)
    d = await sim.create("deployments", deployment_manifest("fg", replicas=1))
    uid = d["metadata"]["uid"]
    await sim.truth.wait_for(uid, "rollout_complete:1", timeout=5)
    rs_uid = owned(sim, "replicasets", uid)[0]["metadata"]["uid"]
    sim.registry.delete(
        "deployments", namespace="default", name="fg", propagation_policy="Foreground"
    )
    pending = sim.get("deployments", "fg")
    assert pending["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in pending["metadata"]["finalizers"]
    owner_gone = await sim.truth.wait_for(uid, "deleted", timeout=5)
    assert sim.truth.times(rs_uid)["deleted"] < owner_gone
