"""List, get, create and the global resourceVersion over raw HTTP."""

from __future__ import annotations

import re
import uuid

import aiohttp

from tests.sim.conftest import MakeSim, list_rv
from tracewatch.sim import SimCluster, pod_manifest
from tracewatch.sim.timestamps import rfc3339

SECOND_PRECISION = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


async def test_list_shape_matches_the_real_server(make_sim: MakeSim) -> None:
    """A PodList carries the global rv; items come in key order without kind/apiVersion."""
    sim = await make_sim(nodes=0)
    await sim.create("namespaces", {"metadata": {"name": "alpha"}}, namespace=None)
    for ns, name in (("default", "b"), ("alpha", "z"), ("default", "a")):
        await sim.create("pods", pod_manifest(name), namespace=ns)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with (
        aiohttp.ClientSession(base_url=sim.url, headers=headers) as http,
        http.get("/api/v1/pods") as response,
    ):
        body = await response.json()
    assert response.status == 200 and response.content_type == "application/json"
    assert body["kind"] == "PodList" and body["apiVersion"] == "v1"
    assert body["metadata"] == {"resourceVersion": str(sim.store.rv)}
    keys = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]]
    assert keys == [("alpha", "z"), ("default", "a"), ("default", "b")]
    assert all("kind" not in i and "apiVersion" not in i for i in body["items"])


async def test_every_write_bumps_one_global_resource_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Namespaces, pods and events share one increasing rv; every List reports the latest."""
    ns = await sim.create("namespaces", {"metadata": {"name": "rv-test"}}, namespace=None)
    pod = await sim.create("pods", pod_manifest("p"), namespace="rv-test")
    async with http.post(
        "/api/v1/namespaces/rv-test/events",
        json={"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "p"}},
    ) as response:
        event = await response.json()
    rvs = [int(o["metadata"]["resourceVersion"]) for o in (ns, pod, event)]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3
    for path in ("/api/v1/events", "/api/v1/namespaces", "/api/v1/nodes"):
        assert int(await list_rv(http, path)) == sim.store.rv >= rvs[-1]


async def test_get_one_object_and_not_found_status(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """GET returns the full object; a missing one is a 404 Status in the real shape."""
    created = await sim.create("pods", pod_manifest("p"))
    async with http.get("/api/v1/namespaces/default/pods/p") as response:
        got = await response.json()
    assert got["kind"] == "Pod" and got["apiVersion"] == "v1"
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    async with http.get("/api/v1/namespaces/default/pods/nope") as response:
        missing = await response.json()
    assert response.status == 404
    assert missing == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "kind": "pods"},
        "code": 404,
    }


async def test_post_creates_with_server_owned_metadata(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """POST stamps uid, rv, creationTimestamp, generation, managedFields and pod defaults."""
    params = {"fieldManager": "kubectl-create"}
    async with http.post(
        "/api/v1/namespaces/default/pods", params=params, json=pod_manifest("web")
    ) as response:
        pod = await response.json()
    assert response.status == 201
    meta = pod["metadata"]
    assert uuid.UUID(meta["uid"]).version == 4
    assert SECOND_PRECISION.match(meta["creationTimestamp"])
    assert meta["generation"] == 1
    assert (
        int(meta["resourceVersion"]) == sim.store.rv or int(meta["resourceVersion"]) < sim.store.rv
    )
    [entry] = meta["managedFields"]
    assert entry["manager"] == "kubectl-create" and entry["operation"] == "Update"
    assert entry["fieldsType"] == "FieldsV1" and entry["time"] == meta["creationTimestamp"]
    assert 'k:{"name":"main"}' in entry["fieldsV1"]["f:spec"]["f:containers"]
    assert pod["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    container = pod["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["spec"]["restartPolicy"] == "Always"
    assert pod["spec"]["schedulerName"] == "default-scheduler"
    assert rfc3339(sim.truth.times(meta["uid"])["created"]) == meta["creationTimestamp"]


async def test_generate_name_conflicts_and_missing_namespace(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """generateName makes a name; a duplicate is 409; an unknown namespace is 404."""
    manifest = pod_manifest("x")
    manifest["metadata"] = {"generateName": "web-"}
    async with http.post("/api/v1/namespaces/default/pods", json=manifest) as response:
        generated = (await response.json())["metadata"]["name"]
    assert re.fullmatch(r"web-[a-z0-9]{5}", generated)
    await sim.create("pods", pod_manifest("dup"))
    async with http.post("/api/v1/namespaces/default/pods", json=pod_manifest("dup")) as response:
        conflict = await response.json()
    assert response.status == 409 and conflict["reason"] == "AlreadyExists"
    assert conflict["message"] == 'pods "dup" already exists'
    async with http.post("/api/v1/namespaces/ghost/pods", json=pod_manifest("p")) as response:
        absent = await response.json()
    assert response.status == 404 and absent["message"] == 'namespaces "ghost" not found'


async def test_invalid_pod_is_422(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """A pod without containers is refused as Invalid."""
    body = {"metadata": {"name": "empty"}, "spec": {"containers": []}}
    async with http.post("/api/v1/namespaces/default/pods", json=body) as response:
        status = await response.json()
    assert response.status == 422 and status["reason"] == "Invalid"
    assert "spec.containers: Required value" in status["message"]


async def test_cluster_scoped_nodes_and_field_selectors_on_lists(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Nodes list cluster-wide; metadata.name, metadata.namespace, spec.nodeName select."""
    async with http.get("/api/v1/nodes") as response:
        nodes = (await response.json())["items"]
    assert [n["metadata"]["name"] for n in nodes] == ["node-1", "node-2", "node-3"]
    assert all(
        c["status"] == "True"
        for n in nodes
        for c in n["status"]["conditions"]
        if c["type"] == "Ready"
    )
    async with http.get("/api/v1/namespaces/default/nodes") as response:
        assert response.status == 404
    await sim.create("pods", pod_manifest("bound", node_name="node-2"))
    await sim.create("pods", pod_manifest("other"))
    for selector, expected in (
        ("spec.nodeName=node-2", ["bound"]),
        ("metadata.name=other", ["other"]),
        ("metadata.namespace=default,metadata.name!=other", ["bound"]),
        ("metadata.namespace=kube-system", []),
    ):
        async with http.get("/api/v1/pods", params={"fieldSelector": selector}) as response:
            names = [i["metadata"]["name"] for i in (await response.json())["items"]]
        assert names == expected, selector


async def test_unknown_resources_and_methods(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """Unknown paths are 404 and unsupported verbs 405, both as Status JSON."""
    async with http.get("/api/v1/secrets") as response:
        body = await response.json()
    assert response.status == 404 and body["kind"] == "Status"
    async with http.put("/api/v1/namespaces/default/pods", json={}) as response:
        body = await response.json()
    assert response.status == 405 and body["reason"] == "MethodNotAllowed"
