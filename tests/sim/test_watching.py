"""Watch semantics over raw HTTP: ordering, replay, 410, initial state, bookmarks, timeouts."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from tests.sim.conftest import MakeSim, list_rv, read_lines
from tracewatch.sim import SimCluster, pod_manifest


async def _pods(sim: SimCluster, *names: str, labels: dict[str, str] | None = None) -> None:
    for name in names:
        await sim.create("pods", pod_manifest(name, labels=labels))


async def test_watch_from_list_rv_delivers_later_writes_in_rv_order(make_sim: MakeSim) -> None:
    """A watch from a List's resourceVersion gets exactly the later writes, rv increasing."""
    sim = await make_sim(nodes=0)
    async with aiohttp.ClientSession(
        base_url=sim.url, headers={"Authorization": f"Bearer {sim.token}"}
    ) as http:
        await _pods(sim, "before")
        rv = await list_rv(http, "/api/v1/pods")
        await _pods(sim, "a", "b", "c")
        params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "0.3"}
        async with http.get("/api/v1/pods", params=params) as response:
            assert response.status == 200
            assert response.headers["Transfer-Encoding"] == "chunked"
            events = await read_lines(response)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("ADDED", "c"),
    ]
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3 and rvs[0] > int(rv)
    assert all(e["object"]["kind"] == "Pod" for e in events)


async def test_watch_replays_history_then_continues_live(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A watch from an older rv replays what followed it, then streams new writes."""
    await _pods(sim, "a")
    rv_after_a = sim.get("pods", "a")["metadata"]["resourceVersion"]
    await _pods(sim, "b")
    params = {"watch": "true", "resourceVersion": rv_after_a, "fieldSelector": "metadata.name!=a"}
    async with http.get("/api/v1/namespaces/default/pods", params=params) as response:
        first = await read_lines(response, count=1)
        await _pods(sim, "c")
        seen = first + await read_lines(response, count=1)
    names = [(e["type"], e["object"]["metadata"]["name"]) for e in seen]
    assert names[0] == ("ADDED", "b")
    assert ("ADDED", "c") in names


async def test_watch_from_compacted_version_gets_in_stream_410_expired(make_sim: MakeSim) -> None:
    """A version older than the history gets an ERROR event with a 410 Expired Status, then EOF."""
    sim = await make_sim(nodes=0, history_size=3)
    async with aiohttp.ClientSession(
        base_url=sim.url, headers={"Authorization": f"Bearer {sim.token}"}
    ) as http:
        rv = await list_rv(http, "/api/v1/pods")
        await _pods(sim, "a", "b", "c", "d", "e")
        params = {"watch": "1", "resourceVersion": rv}
        async with http.get("/api/v1/pods", params=params) as response:
            assert response.status == 200
            events = await read_lines(response, within=2.0)
    assert len(events) == 1
    error = events[0]
    assert error["type"] == "ERROR"
    status = error["object"]
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["status"] == "Failure"
    assert status["code"] == 410 and status["reason"] == "Expired"
    assert status["message"].startswith(f"too old resource version: {rv} (")


async def test_compaction_expires_versions_the_history_still_covered(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """After a compaction even a recent version is gone: the client must relist."""
    rv = await list_rv(http, "/api/v1/events")
    await sim.create("namespaces", {"metadata": {"name": "later"}}, namespace=None)
    sim.store.compact()
    async with http.get("/api/v1/events", params={"watch": "1", "resourceVersion": rv}) as response:
        events = await read_lines(response, within=2.0)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


async def test_watch_without_version_or_zero_starts_with_synthetic_added(
    make_sim: MakeSim,
) -> None:
    """rv unset and rv=0 both begin with ADDED for every current object, then go live."""
    sim = await make_sim(nodes=0)
    await _pods(sim, "x", "y")
    async with aiohttp.ClientSession(
        base_url=sim.url, headers={"Authorization": f"Bearer {sim.token}"}
    ) as http:
        for live_name, params in (
            ("live-unset", {"watch": "1"}),
            ("live-zero", {"watch": "1", "resourceVersion": "0"}),
        ):
            current = {
                s.obj["metadata"]["name"]: s.obj["metadata"]["resourceVersion"]
                for s in sim.store.items("pods")
            }
            async with http.get("/api/v1/pods", params=params) as response:
                initial = await read_lines(response, count=len(current))
                await _pods(sim, live_name)
                live = await read_lines(response, count=1)
            assert {e["type"] for e in initial} == {"ADDED"}
            assert {
                e["object"]["metadata"]["name"]: e["object"]["metadata"]["resourceVersion"]
                for e in initial
            } == current
            assert live[0]["type"] == "ADDED"
            assert live[0]["object"]["metadata"]["name"] == live_name


async def test_bookmarks_carry_only_the_resource_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """allowWatchBookmarks brings periodic BOOKMARKs holding just kind, apiVersion and rv."""
    rv = await list_rv(http, "/api/v1/pods")
    params = {"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true"}
    async with http.get("/api/v1/pods", params=params) as response:
        events = await read_lines(response, count=2, within=2.0)
    assert [e["type"] for e in events] == ["BOOKMARK", "BOOKMARK"]
    for e in events:
        assert e["object"] == {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": str(sim.store.rv)},
        }


async def test_no_bookmarks_unless_allowed(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """Without allowWatchBookmarks an idle watch stays silent until its timeout."""
    params = {"watch": "1", "resourceVersion": str(sim.store.rv), "timeoutSeconds": "0.4"}
    async with http.get("/api/v1/pods", params=params) as response:
        events = await read_lines(response)
    assert events == []


async def test_bookmark_version_never_skips_undelivered_events(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Every event a bookmark covers was delivered before it (resuming from it loses nothing)."""
    rv = await list_rv(http, "/api/v1/events")
    params = {
        "watch": "1",
        "resourceVersion": rv,
        "allowWatchBookmarks": "1",
        "timeoutSeconds": "1",
    }
    async with http.get("/api/v1/pods", params=params) as response:
        for i in range(5):
            await _pods(sim, f"p{i}")
            await asyncio.sleep(0.05)
        events = await read_lines(response)
    delivered = 0
    for e in events:
        rv_here = int(e["object"]["metadata"]["resourceVersion"])
        if e["type"] == "BOOKMARK":
            assert rv_here >= delivered
        else:
            delivered = max(delivered, rv_here)
    assert any(e["type"] == "BOOKMARK" for e in events)
    assert {e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"} >= {
        f"p{i}" for i in range(5)
    }


async def test_timeout_seconds_ends_the_stream_cleanly(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """timeoutSeconds closes the response normally (no error) after that long."""
    began = time.monotonic()
    params = {"watch": "1", "resourceVersion": str(sim.store.rv), "timeoutSeconds": "0.3"}
    async with http.get("/api/v1/events", params=params) as response:
        body = await asyncio.wait_for(response.read(), timeout=3)
    elapsed = time.monotonic() - began
    assert body == b""
    assert 0.25 <= elapsed < 1.5


async def test_label_selector_filters_watch_and_list(make_sim: MakeSim) -> None:
    """labelSelector keeps only matching pods, in lists and in watches."""
    sim = await make_sim(nodes=0)
    await _pods(sim, "web-1", labels={"app": "web"})
    await _pods(sim, "db-1", labels={"app": "db"})
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as http:
        async with http.get("/api/v1/pods", params={"labelSelector": "app=web"}) as response:
            names = [i["metadata"]["name"] for i in (await response.json())["items"]]
        assert names == ["web-1"]
        params = {"watch": "1", "labelSelector": "app!=web", "timeoutSeconds": "0.3"}
        async with http.get("/api/v1/pods", params=params) as response:
            await _pods(sim, "web-2", labels={"app": "web"})
            await _pods(sim, "cache-1", labels={"app": "cache"})
            events = await read_lines(response)
    assert [e["object"]["metadata"]["name"] for e in events] == ["db-1", "cache-1"]


async def test_field_selector_on_node_name_sees_binding_as_added(make_sim: MakeSim) -> None:
    """A kubelet-style watch (spec.nodeName=X) gets ADDED at binding, DELETED at removal."""
    sim = await make_sim(nodes=1)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as http:
        params = {"watch": "1", "fieldSelector": "spec.nodeName=node-1"}
        async with http.get("/api/v1/pods", params=params) as response:
            pod = await sim.create("pods", pod_manifest("p"))
            await sim.truth.wait_for(pod["metadata"]["uid"], "ready", timeout=5)
            await sim.delete("pods", "p", grace_period_seconds=0)
            events = await read_lines(response, count=6)
    types = [e["type"] for e in events]
    # binding, kubelet accepts, sandbox ready, container running, Ready, removal
    assert types == ["ADDED", "MODIFIED", "MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert events[0]["object"]["spec"]["nodeName"] == "node-1"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) > int(
        pod["metadata"]["resourceVersion"]
    )


async def test_object_leaving_a_selector_is_deleted_with_its_previous_content(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Relabelled out of a selector, a pod is a DELETED: old content, new resourceVersion."""
    await sim.create("pods", pod_manifest("p", labels={"tier": "front"}))
    params = {"watch": "1", "labelSelector": "tier=front"}
    async with http.get("/api/v1/pods", params=params) as response:
        await read_lines(response, count=1)

        def relabel(obj: dict) -> None:
            obj["metadata"]["labels"] = {"tier": "back"}

        stored = sim.registry.update(
            "pods", namespace="default", name="p", mutate=relabel, manager="test", at_ns=0
        )
        assert stored is not None
        events = []
        while not events or events[-1]["type"] != "DELETED":
            events += await read_lines(response, count=1)
    deleted = events[-1]["object"]
    assert deleted["metadata"]["labels"] == {"tier": "front"}
    assert deleted["metadata"]["resourceVersion"] == stored.obj["metadata"]["resourceVersion"]


async def test_namespaced_watch_sees_only_its_namespace(make_sim: MakeSim) -> None:
    """/namespaces/{ns}/pods?watch streams that namespace's pods only."""
    sim = await make_sim(nodes=0)
    await sim.create("namespaces", {"metadata": {"name": "other"}}, namespace=None)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as http:
        params = {"watch": "1", "resourceVersion": str(sim.store.rv), "timeoutSeconds": "0.3"}
        async with http.get("/api/v1/namespaces/other/pods", params=params) as response:
            await sim.create("pods", pod_manifest("here"), namespace="other")
            await sim.create("pods", pod_manifest("there"), namespace="default")
            events = await read_lines(response)
    assert [
        (e["object"]["metadata"]["namespace"], e["object"]["metadata"]["name"]) for e in events
    ] == [("other", "here")]


async def test_unsupported_field_selector_is_a_400(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A field the resource does not index is refused as on the real server."""
    async with http.get("/api/v1/pods", params={"fieldSelector": "spec.image=x"}) as response:
        body = await response.json()
    assert response.status == 400
    assert body["reason"] == "BadRequest"
    assert body["message"] == "field label not supported: spec.image"


async def test_invalid_resource_version_is_a_400(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A non-numeric resourceVersion is a BadRequest, not a stream."""
    params = {"watch": "1", "resourceVersion": "abc"}
    async with http.get("/api/v1/pods", params=params) as response:
        body = await response.json()
    assert response.status == 400 and body["kind"] == "Status" and body["code"] == 400


async def test_slow_watcher_never_blocks_writers_and_is_closed(make_sim: MakeSim) -> None:
    """A watcher that does not read is cut off past its backlog; writes go on meanwhile."""
    sim = await make_sim(nodes=0, max_watch_backlog=5)
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as http:
        params = {"watch": "1", "resourceVersion": str(sim.store.rv)}
        async with http.get("/api/v1/pods", params=params) as response:
            assert len(list(sim.store.subscribers("pods"))) == 1
            began = time.monotonic()
            for i in range(50):
                await sim.create("pods", pod_manifest(f"p{i}"))
            assert time.monotonic() - began < 1.0
            events = await read_lines(response, within=3.0)
    assert len(events) < 50
    assert sim.store.count("pods") == 50
    assert list(sim.store.subscribers("pods")) == []


async def test_disconnected_watcher_is_released(sim: SimCluster) -> None:
    """A client that hangs up stops being fed: its watcher leaves the store promptly."""
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as http:
        response = await http.get("/api/v1/events", params={"watch": "1"})
        assert len(list(sim.store.subscribers("events"))) == 1
        response.close()
    for _ in range(60):
        if not list(sim.store.subscribers("events")):
            break
        await asyncio.sleep(0.05)
    assert list(sim.store.subscribers("events")) == []
