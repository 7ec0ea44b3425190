"""Discovery of the named groups: /apis, /apis/<group>, /apis/<group>/<version>, /openapi/v3."""

from __future__ import annotations

import aiohttp

from tracewatch.sim import SimCluster


async def _get(http: aiohttp.ClientSession, path: str) -> dict[str, object]:
    async with http.get(path) as response:
        assert response.status == 200, path
        return await response.json()


async def test_groups_and_their_preferred_versions(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """/apis lists apps, batch and coordination.k8s.io, each with v1 preferred."""
    groups = {g["name"]: g for g in (await _get(http, "/apis"))["groups"]}
    assert set(groups) == {"apps", "batch", "coordination.k8s.io"}
    for name, group in groups.items():
        assert group["preferredVersion"] == {"groupVersion": f"{name}/v1", "version": "v1"}
    apps = await _get(http, "/apis/apps")
    assert apps["kind"] == "APIGroup" and apps["name"] == "apps"
    async with http.get("/apis/nope") as response:
        assert response.status == 404


async def test_apps_resource_list_has_status_and_scale_subresources(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """deployments/scale is autoscaling/v1 Scale; daemonsets have status but no scale."""
    body = await _get(http, "/apis/apps/v1")
    assert body["kind"] == "APIResourceList" and body["groupVersion"] == "apps/v1"
    by_name = {r["name"]: r for r in body["resources"]}
    assert {
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "controllerrevisions",
    } <= set(by_name)
    assert by_name["deployments"]["shortNames"] == ["deploy"]
    assert by_name["deployments"]["categories"] == ["all"]
    assert set(by_name["deployments"]["verbs"]) >= {
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
    }
    scale = by_name["deployments/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert by_name["statefulsets/status"]["kind"] == "StatefulSet"
    assert "daemonsets/status" in by_name and "daemonsets/scale" not in by_name
    jobs = {r["name"]: r for r in (await _get(http, "/apis/batch/v1"))["resources"]}
    assert jobs["jobs"]["namespaced"] is True and "jobs/status" in jobs
    leases = (await _get(http, "/apis/coordination.k8s.io/v1"))["resources"]
    assert [r["name"] for r in leases] == ["leases"]
    core = {r["name"]: r for r in (await _get(http, "/api/v1"))["resources"]}
    assert core["persistentvolumes"]["namespaced"] is False
    assert core["persistentvolumeclaims"]["shortNames"] == ["pvc"]


async def test_openapi_v3_advertises_server_side_field_validation(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Each group-version document has a PATCH per kind taking fieldValidation (kubectl checks)."""
    root = await _get(http, "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    document = await _get(http, url)
    patch = document["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert [p["name"] for p in patch["parameters"]] == ["fieldValidation"]
    core = await _get(http, "/openapi/v3/api/v1")
    assert "/api/v1/nodes/{name}" in core["paths"]
