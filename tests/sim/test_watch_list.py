"""Watch with sendInitialEvents (the WatchList protocol) and named-group watches."""

from __future__ import annotations

import aiohttp

from tests.sim.conftest import read_lines
from tracewatch.sim import SimCluster

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


async def test_initial_events_end_with_an_annotated_bookmark_then_live_events(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """sendInitialEvents=true: ADDED per object, a BOOKMARK with k8s.io/initial-events-end, live."""
    for name in ("a", "b"):
        await sim.create("leases", {"metadata": {"name": name}, "spec": {}})
    params = {
        "watch": "1",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "5",
    }
    async with http.get(LEASES, params=params) as response:
        assert response.status == 200
        initial = await read_lines(response, count=3)
        await sim.create("leases", {"metadata": {"name": "c"}, "spec": {}})
        live = await read_lines(response, count=1)
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in initial] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("BOOKMARK", None),
    ]
    bookmark = initial[2]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert bookmark["kind"] == "Lease" and bookmark["apiVersion"] == "coordination.k8s.io/v1"
    assert int(bookmark["metadata"]["resourceVersion"]) >= max(
        int(e["object"]["metadata"]["resourceVersion"]) for e in initial[:2]
    )
    assert live[0]["type"] == "ADDED" and live[0]["object"]["metadata"]["name"] == "c"


async def test_send_initial_events_false_starts_from_now(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """sendInitialEvents=false without a resourceVersion sends no initial state."""
    await sim.create("leases", {"metadata": {"name": "old"}, "spec": {}})
    params = {
        "watch": "1",
        "sendInitialEvents": "false",
        "resourceVersionMatch": "NotOlderThan",
        "timeoutSeconds": "5",
    }
    async with http.get(LEASES, params=params) as response:
        await sim.create("leases", {"metadata": {"name": "new"}, "spec": {}})
        events = await read_lines(response, count=1)
    assert events[0]["object"]["metadata"]["name"] == "new"


async def test_watch_list_options_are_validated_like_the_real_server(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """422: sendInitialEvents lacking NotOlderThan or bookmarks; a bare resourceVersionMatch."""
    bad = [
        {"sendInitialEvents": "true", "allowWatchBookmarks": "true"},
        {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"},
        {"resourceVersionMatch": "NotOlderThan"},
    ]
    for params in bad:
        async with http.get(LEASES, params={"watch": "1", **params}) as response:
            body = await response.json()
        assert response.status == 422 and body["reason"] == "Invalid", params
        assert body["details"]["kind"] == "ListOptions"


async def test_named_group_paths_check_group_and_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A resource is only served under its own group/version; others are a 404 NotFound."""
    for path in (
        "/apis/apps/v1/namespaces/default/pods",
        "/api/v1/deployments",
        "/apis/apps/v2/deployments",
    ):
        async with http.get(path) as response:
            assert response.status == 404, path
            assert (await response.json())["reason"] == "NotFound"
    async with http.get("/apis/apps/v1/deployments") as response:
        body = await response.json()
    assert body["kind"] == "DeploymentList" and body["apiVersion"] == "apps/v1"
