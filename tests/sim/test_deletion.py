"""DELETE semantics: finalizers, deletionTimestamp, propagationPolicy, preconditions."""

from __future__ import annotations

import aiohttp

from tests.sim.conftest import MakeSim, list_rv, read_lines
from tracewatch.sim import SimCluster

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
MERGE = {"Content-Type": "application/merge-patch+json"}


def lease(name: str, *, finalizers: list[str] | None = None) -> dict[str, object]:
    meta: dict[str, object] = {"name": name}
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": {}}


async def test_finalizers_hold_a_deleted_object_until_the_last_is_removed(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """With finalizers, DELETE only sets deletionTimestamp (grace 0); dropping the last deletes."""
    async with http.post(LEASES, json=lease("held", finalizers=["a/x", "b/y"])) as response:
        assert response.status == 201
    rv = await list_rv(http, LEASES)
    async with http.delete(f"{LEASES}/held") as response:
        assert response.status == 200
        marked = await response.json()
    assert marked["metadata"]["deletionTimestamp"].endswith("Z")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 0
    assert sim.get("leases", "held")["metadata"]["finalizers"] == ["a/x", "b/y"]
    async with http.delete(f"{LEASES}/held") as response:
        again = await response.json()
    assert again["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    async with http.patch(
        f"{LEASES}/held", json={"metadata": {"finalizers": ["b/y"]}}, headers=MERGE
    ) as response:
        assert response.status == 200
    assert sim.get("leases", "held")["metadata"]["finalizers"] == ["b/y"]
    removed = sim.registry.remove_finalizer(
        "leases", namespace="default", name="held", finalizer="b/y", manager="test"
    )
    assert removed is not None
    async with http.get(f"{LEASES}/held") as response:
        assert response.status == 404
    async with http.get(
        LEASES, params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
    ) as response:
        events = await read_lines(response)
    # MODIFIED (marked), MODIFIED (one finalizer left), MODIFIED (none left), DELETED.
    assert [e["type"] for e in events] == ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert "finalizers" not in events[-1]["object"]["metadata"]


async def test_foreground_and_orphan_policies_add_their_finalizers(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """propagationPolicy Foreground adds foregroundDeletion, Orphan adds orphan; Background none."""
    for name in ("fg", "orphan", "bg"):
        async with http.post(LEASES, json=lease(name)) as response:
            assert response.status == 201
    body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"}
    async with http.delete(f"{LEASES}/fg", json=body) as response:
        fg = await response.json()
    assert fg["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert fg["metadata"]["deletionTimestamp"]
    async with http.delete(f"{LEASES}/orphan", params={"propagationPolicy": "Orphan"}) as r:
        orphan = await r.json()
    assert orphan["metadata"]["finalizers"] == ["orphan"]
    async with http.delete(f"{LEASES}/bg", params={"propagationPolicy": "Background"}) as r:
        assert r.status == 200
    async with http.get(f"{LEASES}/bg") as response:
        assert response.status == 404
    assert sim.registry.deletion_policies[fg["metadata"]["uid"]] == "Foreground"


async def test_a_job_without_policy_is_orphaned_by_default(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """batch/v1 Jobs default to orphan propagation: a bare DELETE adds the orphan finalizer."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1"}],
                }
            }
        },
    }
    async with http.post("/apis/batch/v1/namespaces/default/jobs", json=job) as response:
        created = await response.json()
    assert created["spec"]["selector"] == {
        "matchLabels": {"batch.kubernetes.io/controller-uid": created["metadata"]["uid"]}
    }
    async with http.delete("/apis/batch/v1/namespaces/default/jobs/once") as response:
        deleted = await response.json()
    assert "orphan" in deleted["metadata"]["finalizers"]


async def test_bad_policy_and_failed_preconditions(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """An unknown propagationPolicy is 422 Invalid; a uid precondition that fails is 409."""
    async with http.post(LEASES, json=lease("l")) as response:
        assert response.status == 201
    async with http.delete(f"{LEASES}/l", params={"propagationPolicy": "Sideways"}) as response:
        body = await response.json()
    assert response.status == 422 and body["reason"] == "Invalid"
    options = {"preconditions": {"uid": "not-the-uid"}}
    async with http.delete(f"{LEASES}/l", json=options) as response:
        body = await response.json()
    assert response.status == 409 and body["reason"] == "Conflict"
    assert "Precondition failed: UID in precondition: not-the-uid" in body["message"]
    async with http.delete(f"{LEASES}/l/status") as response:
        assert response.status == 404  # leases have no subresources
    async with http.get(f"{LEASES}/l") as response:
        assert response.status == 200


async def test_a_pod_with_a_finalizer_outlives_its_kubelet(make_sim: MakeSim) -> None:
    """The kubelet's final grace-0 delete leaves a finalized pod in place until it is released."""
    sim = await make_sim()
    manifest = {
        "metadata": {"name": "p", "finalizers": ["example.com/hold"]},
        "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
    }
    pod = await sim.create("pods", manifest)
    uid = pod["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready", timeout=5)
    await sim.delete("pods", "p", grace_period_seconds=1)
    await sim.truth.wait_for(uid, "terminated", timeout=5)
    held = sim.get("pods", "p")
    assert held["metadata"]["deletionGracePeriodSeconds"] == 0
    assert held["status"]["phase"] == "Succeeded"
    assert "deleted" not in sim.truth.times(uid)
    sim.registry.remove_finalizer(
        "pods", namespace="default", name="p", finalizer="example.com/hold", manager="test"
    )
    assert "deleted" in sim.truth.times(uid)
