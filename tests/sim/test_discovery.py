"""Discovery documents close enough to the real ones for stock clients."""

from __future__ import annotations

import aiohttp

from tracewatch.sim import SimCluster


async def test_version_and_group_documents(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """/version, /api and /apis have the real kinds and fields."""
    async with http.get("/version") as response:
        version = await response.json()
    assert version["major"] == "1" and version["gitVersion"].startswith("v1.")
    async with http.get("/api") as response:
        api = await response.json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["serverAddress"] == sim.url.removeprefix("http://")
    async with http.get("/apis") as response:
        apis = await response.json()
    assert apis["kind"] == "APIGroupList"
    assert [g["name"] for g in apis["groups"]] == ["apps", "batch", "coordination.k8s.io"]


async def test_core_v1_resource_list(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """/api/v1 lists exactly the served resources with scope, kind and verbs."""
    async with http.get("/api/v1") as response:
        body = await response.json()
    assert response.content_type == "application/json"
    assert body["kind"] == "APIResourceList" and body["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in body["resources"]}
    assert {n for n in by_name if "/" not in n} == {
        "pods",
        "events",
        "nodes",
        "namespaces",
        "persistentvolumeclaims",
        "persistentvolumes",
    }
    assert by_name["pods"]["namespaced"] is True and by_name["pods"]["kind"] == "Pod"
    assert by_name["nodes"]["namespaced"] is False
    assert {"get", "list", "watch", "create", "delete"} <= set(by_name["pods"]["verbs"])
    assert "po" in by_name["pods"]["shortNames"]
