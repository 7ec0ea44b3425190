"""PUT, PATCH, /status and /scale over HTTP, with the real server's metadata semantics."""

from __future__ import annotations

from typing import Any

import aiohttp

from tracewatch.sim import SimCluster

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}


def deployment(name: str = "web", *, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    }


def lease(name: str = "lock") -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name},
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    }


async def _create(http: aiohttp.ClientSession, path: str, obj: dict[str, Any]) -> dict[str, Any]:
    async with http.post(path, json=obj) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def test_put_with_stale_resource_version_is_409_conflict(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Optimistic concurrency: a PUT with an old metadata.resourceVersion gets reason Conflict."""
    created = await _create(http, "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease())
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases/lock"
    first = dict(created, spec={**created["spec"], "holderIdentity": "b"})
    async with http.put(path, json=first) as response:
        assert response.status == 200
        updated = await response.json()
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stale = dict(created, spec={**created["spec"], "holderIdentity": "c"})
    async with http.put(path, json=stale) as response:
        body = await response.json()
    assert response.status == 409
    assert body["kind"] == "Status" and body["reason"] == "Conflict" and body["code"] == 409
    assert body["details"] == {"name": "lock", "group": "coordination.k8s.io", "kind": "leases"}
    assert "the object has been modified" in body["message"]
    assert sim.get("leases", "lock")["spec"]["holderIdentity"] == "b"


async def test_generation_moves_on_spec_changes_only(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """metadata.generation: +1 for a spec change, unchanged for labels or a /status write."""
    created = await _create(http, DEPLOYMENTS, deployment())
    assert created["metadata"]["generation"] == 1
    path = f"{DEPLOYMENTS}/web"
    async with http.patch(
        path, json={"metadata": {"labels": {"tier": "front"}}}, headers=MERGE
    ) as r:
        labelled = await r.json()
    assert labelled["metadata"]["generation"] == 1
    assert labelled["metadata"]["labels"] == {"app": "web", "tier": "front"}
    async with http.patch(f"{path}/status", json={"status": {"replicas": 7}}, headers=MERGE) as r:
        status_written = await r.json()
    assert status_written["metadata"]["generation"] == 1
    assert status_written["status"]["replicas"] == 7
    async with http.patch(path, json={"spec": {"replicas": 4}}, headers=MERGE) as r:
        scaled = await r.json()
    assert scaled["metadata"]["generation"] == 2
    # uid and creationTimestamp never move, whatever the client sends.
    forged = dict(scaled)
    forged["metadata"] = dict(
        scaled["metadata"], uid="forged", creationTimestamp="2001-01-01T00:00:00Z"
    )
    forged["metadata"].pop("uid")
    forged["metadata"]["generation"] = 99
    async with http.put(path, json=forged) as r:
        assert r.status == 200, await r.text()
        replaced = await r.json()
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    assert replaced["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert replaced["metadata"]["generation"] == 2


async def test_put_with_another_uid_is_a_precondition_conflict(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A uid in the body is a precondition: another incarnation's uid gets 409 Conflict."""
    created = await _create(http, DEPLOYMENTS, deployment())
    created["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    async with http.put(f"{DEPLOYMENTS}/web", json=created) as response:
        body = await response.json()
    assert response.status == 409 and body["reason"] == "Conflict"
    assert "Precondition failed: UID in precondition" in body["message"]


async def test_status_subresource_writes_only_status_and_main_resource_ignores_status(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """PUT /status keeps the stored spec; PUT on the object keeps the stored status (nodes)."""
    path = "/api/v1/nodes/node-1"
    current = sim.get("nodes", "node-1", namespace=None)
    uid = current["metadata"]["uid"]
    current["spec"]["unschedulable"] = True
    current["status"]["phase"] = "Written"
    async with http.put(f"{path}/status", json=current) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert "unschedulable" not in body["spec"] and body["status"]["phase"] == "Written"
    fresh = sim.get("nodes", "node-1", namespace=None)
    fresh["status"]["phase"] = "Ignored"
    fresh["spec"]["unschedulable"] = True
    async with http.put(path, json=fresh) as response:
        body = await response.json()
    assert body["spec"]["unschedulable"] is True and body["status"]["phase"] == "Written"
    status_entry = [
        e for e in body["metadata"]["managedFields"] if e.get("subresource") == "status"
    ]
    assert status_entry and "f:status" in status_entry[0]["fieldsV1"]
    assert body["metadata"]["uid"] == uid


async def test_managed_fields_record_manager_and_time(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Each writer gets a managedFields entry: manager (fieldManager), operation Update, time."""
    await _create(http, DEPLOYMENTS, deployment())
    async with http.patch(
        f"{DEPLOYMENTS}/web",
        params={"fieldManager": "kubectl-label"},
        json={"metadata": {"labels": {"x": "y"}}},
        headers=MERGE,
    ) as response:
        body = await response.json()
    entries = {e["manager"]: e for e in body["metadata"]["managedFields"]}
    entry = entries["kubectl-label"]
    assert entry["operation"] == "Update" and entry["fieldsType"] == "FieldsV1"
    assert entry["time"].endswith("Z") and "f:metadata" in entry["fieldsV1"]


async def test_json_patch_applies_atomically(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """RFC 6902: add/replace/test apply together; a failed test is 422 and changes nothing."""
    await _create(http, DEPLOYMENTS, deployment())
    path = f"{DEPLOYMENTS}/web"
    headers = {"Content-Type": "application/json-patch+json"}
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 2},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/annotations", "value": {"a": "b"}},
    ]
    async with http.patch(path, json=ops, headers=headers) as response:
        body = await response.json()
    assert body["spec"]["replicas"] == 3 and body["metadata"]["annotations"] == {"a": "b"}
    failing = [
        {"op": "replace", "path": "/spec/replicas", "value": 8},
        {"op": "test", "path": "/spec/replicas", "value": 2},
    ]
    async with http.patch(path, json=failing, headers=headers) as response:
        assert response.status == 422
        assert (await response.json())["reason"] == "Invalid"
    async with http.patch(path, data=b'{"op": "add"}', headers=headers) as response:
        assert response.status == 400
        assert (await response.json())["reason"] == "BadRequest"
    assert sim.get("deployments", "web")["spec"]["replicas"] == 3


async def test_strategic_merge_patch_merges_containers_by_name(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """`kubectl set image` sends a strategic patch naming one container: the others stay."""
    manifest = deployment()
    manifest["spec"]["template"]["spec"]["containers"].append(
        {"name": "side", "image": "busybox:1"}
    )
    await _create(http, DEPLOYMENTS, manifest)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}
    }
    async with http.patch(
        f"{DEPLOYMENTS}/web",
        json=patch,
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    ) as response:
        body = await response.json()
    containers = body["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("app", "nginx:1.28"),
        ("side", "busybox:1"),
    ]
    assert containers[0]["terminationMessagePolicy"] == "File"  # defaulted fields survive
    assert body["metadata"]["generation"] == 2


async def test_unsupported_patch_types_are_415(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Server-side apply (application/apply-patch+yaml) is not served: 415 UnsupportedMediaType."""
    await _create(http, DEPLOYMENTS, deployment())
    async with http.patch(
        f"{DEPLOYMENTS}/web",
        data=b"spec: {replicas: 1}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    ) as response:
        assert response.status == 415
        assert (await response.json())["reason"] == "UnsupportedMediaType"


async def test_scale_subresource_reads_and_writes_spec_replicas(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """/scale speaks autoscaling/v1 Scale (selector, status.replicas) and writes spec.replicas."""
    created = await _create(http, DEPLOYMENTS, deployment(replicas=2))
    path = f"{DEPLOYMENTS}/web/scale"
    async with http.get(path) as response:
        scale = await response.json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["metadata"]["uid"] == created["metadata"]["uid"]
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    async with http.patch(path, json={"spec": {"replicas": 6}}, headers=MERGE) as response:
        patched = await response.json()
    assert patched["kind"] == "Scale" and patched["spec"]["replicas"] == 6
    scale = dict(patched, spec={"replicas": 1})
    async with http.put(path, json=scale) as response:
        assert response.status == 200
    stored = sim.get("deployments", "web")
    assert stored["spec"]["replicas"] == 1 and stored["metadata"]["generation"] == 3
    async with http.put(path, json=dict(patched, spec={"replicas": 4})) as response:
        assert response.status == 409  # patched's resourceVersion is stale by now
    async with http.get("/apis/apps/v1/namespaces/default/daemonsets/x/scale") as response:
        assert response.status == 404  # daemonsets have no /scale on the real server


async def test_readonly_token_is_forbidden_on_every_write_verb(sim: SimCluster) -> None:
    """403 Forbidden for PUT, PATCH, /status, /scale and DELETE with the read-only token."""
    await sim.create("deployments", deployment())
    path = f"{sim.url}{DEPLOYMENTS}/web"
    headers = {"Authorization": f"Bearer {sim.readonly_token}"}
    async with aiohttp.ClientSession(headers=headers) as ro:
        attempts = [
            ro.put(path, json=deployment()),
            ro.patch(path, json={"spec": {"replicas": 1}}, headers=MERGE),
            ro.patch(f"{path}/status", json={"status": {}}, headers=MERGE),
            ro.patch(f"{path}/scale", json={"spec": {"replicas": 1}}, headers=MERGE),
            ro.delete(path),
        ]
        for attempt in attempts:
            async with attempt as response:
                body = await response.json()
            assert response.status == 403 and body["reason"] == "Forbidden"
            assert 'in API group "apps"' in body["message"]
        async with ro.patch(f"{path}/scale", json={}, headers=MERGE) as response:
            assert 'resource "deployments/scale"' in (await response.json())["message"]
    assert sim.get("deployments", "web")["spec"]["replicas"] == 2


async def test_create_applies_the_servers_workload_defaults(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """apps/v1 defaults.go: RollingUpdate 25%/25%, revisionHistoryLimit 10, deadline 600 s."""
    created = await _create(http, DEPLOYMENTS, deployment())
    spec = created["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    template = spec["template"]["spec"]
    assert template["restartPolicy"] == "Always" and template["dnsPolicy"] == "ClusterFirst"
    assert template["containers"][0]["imagePullPolicy"] == "IfNotPresent"
