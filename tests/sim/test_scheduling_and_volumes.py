"""Scheduler failures, the PV controller, provisioning and WaitForFirstConsumer."""

from __future__ import annotations

from tests.sim.conftest import MakeSim
from tests.sim.control import CONTROL, events_of
from tracewatch.sim import pod_manifest
from tracewatch.sim.placement import quantity
from tracewatch.sim.timestamps import now_ns
from tracewatch.sim.workload_manifests import container, pvc_manifest


def _pod_with_claim(name: str, claim: str) -> dict:
    manifest = pod_manifest(name)
    manifest["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return manifest


def test_quantities_parse_like_resource_quantity() -> None:
    """cpu `500m` is half a core, memory suffixes are binary (Ki/Mi/Gi) or decimal (k/M/G)."""
    assert quantity("500m", cpu=True) == 0.5
    assert quantity("8", cpu=True) == 8
    assert quantity("1Gi") == 2**30
    assert quantity("32856228Ki") == 32856228 * 1024


async def test_pod_matching_no_node_is_unschedulable_until_a_node_fits(make_sim: MakeSim) -> None:
    """NodeAffinity filter: PodScheduled=False Unschedulable + FailedScheduling, real message."""
    sim = await make_sim(**CONTROL)
    manifest = pod_manifest("picky")
    manifest["spec"]["nodeSelector"] = {"disktype": "ssd"}
    pod = await sim.create("pods", manifest)
    uid = pod["metadata"]["uid"]
    await sim.truth.wait_for(uid, "unschedulable", timeout=5)
    message = (
        "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    cond = sim.get("pods", "picky")["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"], cond["message"]) == (
        "PodScheduled",
        "False",
        "Unschedulable",
        message,
    )
    failed = [e for e in events_of(sim, uid) if e["reason"] == "FailedScheduling"]
    assert len(failed) == 1
    assert (failed[0]["type"], failed[0]["action"], failed[0]["message"]) == (
        "Warning",
        "Scheduling",
        message,
    )
    assert failed[0]["eventTime"] and failed[0]["reportingComponent"] == "default-scheduler"

    def label(obj: dict) -> None:
        obj["metadata"]["labels"]["disktype"] = "ssd"

    sim.registry.update(
        "nodes", namespace=None, name="node-2", mutate=label, manager="kubectl", at_ns=now_ns()
    )
    await sim.truth.wait_for(uid, "scheduled", timeout=5)
    assert sim.get("pods", "picky")["spec"]["nodeName"] == "node-2"


async def test_too_large_requests_report_insufficient_cpu(make_sim: MakeSim) -> None:
    """NodeResourcesFit: requests above allocatable give `Insufficient cpu` on every node."""
    sim = await make_sim(**CONTROL)
    pod = await sim.create(
        "pods", pod_manifest("huge", containers=[container(requests={"cpu": "64"})])
    )
    await sim.truth.wait_for(pod["metadata"]["uid"], "unschedulable", timeout=5)
    message = sim.get("pods", "huge")["status"]["conditions"][0]["message"]
    assert message.startswith("0/3 nodes are available: 3 Insufficient cpu. preemption:")


async def test_immediate_claim_is_provisioned_and_bound_before_its_pod_schedules(
    make_sim: MakeSim,
) -> None:
    """Immediate class: provisioning events, then Bound; the pod is scheduled only after."""
    sim = await make_sim(**CONTROL)
    pvc = await sim.create(
        "persistentvolumeclaims", pvc_manifest("fast-claim", storage_class="fast")
    )
    claim_uid = pvc["metadata"]["uid"]
    pod = await sim.create("pods", _pod_with_claim("user", "fast-claim"))
    bound = await sim.truth.wait_for(claim_uid, "bound", timeout=5)
    scheduled = await sim.truth.wait_for(pod["metadata"]["uid"], "scheduled", timeout=5)
    assert bound < scheduled
    t = sim.truth.times(claim_uid)
    assert t["created"] < t["provisioning_started"] < t["provisioned"] < t["bound"]
    reasons = [(e["reason"], e["source"]["component"]) for e in events_of(sim, claim_uid)]
    assert reasons == [
        ("ExternalProvisioning", "persistentvolume-controller"),
        ("Provisioning", reasons[1][1]),
        ("ProvisioningSucceeded", reasons[1][1]),
    ]
    assert reasons[1][1].startswith("csi.sim.tracewatch.io_")
    claim = sim.get("persistentvolumeclaims", "fast-claim")
    assert claim["spec"]["volumeName"] == f"pvc-{claim_uid}"
    assert claim["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] == "yes"
    assert (
        claim["metadata"]["annotations"]["volume.kubernetes.io/storage-provisioner"]
        == "csi.sim.tracewatch.io"
    )
    assert claim["status"] == {
        "phase": "Bound",
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": "1Gi"},
    }
    volume = sim.get("persistentvolumes", f"pvc-{claim_uid}", namespace=None)
    assert volume["status"]["phase"] == "Bound"
    assert volume["spec"]["claimRef"]["uid"] == claim_uid


async def test_wait_for_first_consumer_binds_once_the_scheduler_picks_a_node(
    make_sim: MakeSim,
) -> None:
    """WaitForFirstConsumer: Pending until the scheduler sets selected-node; bound first."""
    sim = await make_sim(**CONTROL)
    pvc = await sim.create("persistentvolumeclaims", pvc_manifest("lazy"))
    claim_uid = pvc["metadata"]["uid"]
    await sim.truth.wait_for(claim_uid, "waiting_for_consumer", timeout=5)
    assert sim.get("persistentvolumeclaims", "lazy").get("status", {}).get("phase") != "Bound"
    waiting = events_of(sim, claim_uid)[0]
    assert (waiting["reason"], waiting["message"]) == (
        "WaitForFirstConsumer",
        "waiting for first consumer to be created before binding",
    )
    pod = await sim.create("pods", _pod_with_claim("consumer", "lazy"))
    scheduled = await sim.truth.wait_for(pod["metadata"]["uid"], "scheduled", timeout=5)
    t = sim.truth.times(claim_uid)
    assert t["provisioning_started"] < t["bound"] < scheduled
    node = sim.get("pods", "consumer")["spec"]["nodeName"]
    claim = sim.get("persistentvolumeclaims", "lazy")
    assert claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
    volume = sim.get("persistentvolumes", claim["spec"]["volumeName"], namespace=None)
    terms = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert terms[0]["matchExpressions"][0]["values"] == [node]


async def test_static_volume_is_bound_by_the_controller(make_sim: MakeSim) -> None:
    """A fitting Available PV is bound (claimRef, bound-by-controller) without provisioning."""
    sim = await make_sim(**CONTROL)
    await sim.create(
        "persistentvolumes",
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "static-1"},
            "spec": {
                "capacity": {"storage": "5Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "",
                "hostPath": {"path": "/data"},
            },
        },
        namespace=None,
    )
    pvc = await sim.create("persistentvolumeclaims", pvc_manifest("static", storage_class=""))
    await sim.truth.wait_for(pvc["metadata"]["uid"], "bound", timeout=5)
    volume = sim.get("persistentvolumes", "static-1", namespace=None)
    assert volume["metadata"]["annotations"]["pv.kubernetes.io/bound-by-controller"] == "yes"
    assert sim.get("persistentvolumeclaims", "static")["spec"]["volumeName"] == "static-1"
    assert "provisioning_started" not in sim.truth.times(pvc["metadata"]["uid"])


async def test_claim_naming_no_class_gets_the_default_class_on_create(make_sim: MakeSim) -> None:
    """DefaultStorageClass admission: a nil storageClassName becomes the default class's name;
    an explicit "" (no class) and a named class are left as sent."""
    sim = await make_sim(**CONTROL)
    created = {
        name: await sim.create("persistentvolumeclaims", pvc_manifest(name, storage_class=cls))
        for name, cls in (("unnamed", None), ("none", ""), ("fast", "fast"))
    }
    classes = {name: obj["spec"]["storageClassName"] for name, obj in created.items()}
    assert classes == {"unnamed": "standard", "none": "", "fast": "fast"}
    stored = sim.get("persistentvolumeclaims", "unnamed")
    assert stored["spec"]["storageClassName"] == "standard"
    # Attributed to the creating request's manager, as mutating admission is.
    assert "f:storageClassName" in stored["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
