"""The simulator's fault injection, seen from a raw HTTP client: what each fault looks like on
the wire."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tracewatch.sim import SimCluster, pod_manifest
from tracewatch.sim.faults import MALFORMED_LINES, WriteLog

from .conftest import list_rv, read_lines


async def test_injected_429_carries_retry_after(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """fail(429) answers the next request with Retry-After and a Status naming the delay, then
    the server serves normally."""
    sim.faults.fail(code=429, times=1, retry_after=3, verb="list")
    async with http.get("/api/v1/pods") as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "3"
        body = await response.json()
        assert body["reason"] == "TooManyRequests" and body["details"]["retryAfterSeconds"] == 3
    async with http.get("/api/v1/pods") as response:
        assert response.status == 200
    assert sim.faults.injected["http_429"] == 1


async def test_injected_500_hits_only_the_chosen_verb_and_resource(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """fail(500, verb=watch, resource=events) leaves lists and other resources alone."""
    sim.faults.fail(code=500, times=1, verb="watch", resource="events")
    async with http.get("/api/v1/events") as response:
        assert response.status == 200
    async with http.get("/api/v1/pods", params={"watch": "1", "timeoutSeconds": "1"}) as response:
        assert response.status == 200
    async with http.get("/api/v1/events", params={"watch": "1"}) as response:
        assert response.status == 500


async def test_injected_failure_on_writes_leaves_reads_alone(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """fail(503, verb=write) answers the next update/patch/delete of an object, not a GET."""
    await sim.create("pods", pod_manifest("target"))
    sim.faults.fail(code=503, times=1, verb="write", resource="pods")
    async with http.get("/api/v1/namespaces/default/pods/target") as response:
        assert response.status == 200
    async with http.delete("/api/v1/namespaces/default/pods/target") as response:
        assert response.status == 503
        assert (await response.json())["code"] == 503
    async with http.delete("/api/v1/namespaces/default/pods/target") as response:
        assert response.status == 200


async def test_compaction_then_reconnect_gets_410_in_stream(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """After compact(), a watch from an older version gets the ERROR 410 event."""
    rv = await list_rv(http, "/api/v1/pods")
    await sim.create("pods", pod_manifest("a"))
    sim.faults.compact()
    async with http.get("/api/v1/pods", params={"watch": "1", "resourceVersion": rv}) as response:
        events = await read_lines(response)
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410


async def test_drop_aborts_open_streams(sim: SimCluster, http: aiohttp.ClientSession) -> None:
    """drop_watches() cuts open streams without a clean end: the client sees a payload error."""
    async with http.get("/api/v1/pods", params={"watch": "1"}) as response:
        await asyncio.sleep(0.05)
        assert sim.faults.drop_watches() == 1
        try:
            await asyncio.wait_for(response.content.read(), 2)
            ended_cleanly = True
        except aiohttp.ClientPayloadError:
            ended_cleanly = False
    assert not ended_cleanly


async def test_malformed_lines_precede_real_data(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """malformed(lines=1) puts one garbage line before the next chunk; the real event follows."""
    rv = await list_rv(http, "/api/v1/namespaces")
    sim.faults.malformed(lines=1, resource="namespaces")
    async with http.get(
        "/api/v1/namespaces", params={"watch": "1", "resourceVersion": rv}
    ) as response:
        await sim.create("namespaces", {"metadata": {"name": "shop"}}, namespace=None)
        raw = [await asyncio.wait_for(response.content.readline(), 2) for _ in range(2)]
    assert raw[0].rstrip(b"\n") in MALFORMED_LINES
    assert json.loads(raw[1])["object"]["metadata"]["name"] == "shop"


async def test_stalled_stream_stays_open_and_silent(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """stall_watches() withholds events and bookmarks on open streams; new watches are served."""
    params = {"watch": "1", "allowWatchBookmarks": "true"}
    async with http.get("/api/v1/namespaces", params=params) as stalled:
        await read_lines(stalled, count=1)  # the initial ADDED events arrive first
        await asyncio.sleep(0.05)
        assert sim.faults.stall_watches() == 1
        await sim.create("namespaces", {"metadata": {"name": "shop"}}, namespace=None)
        rv = await list_rv(http, "/api/v1/namespaces")
        async with http.get(
            "/api/v1/namespaces", params={**params, "resourceVersion": "1"}
        ) as fresh:
            assert (await read_lines(fresh, count=1))[0]["type"] == "ADDED"
        try:
            lines = await asyncio.wait_for(stalled.content.read(1 << 16), 0.5)
        except TimeoutError:
            lines = b""
    assert b"shop" not in lines and rv


async def test_write_log_records_every_write(sim: SimCluster) -> None:
    """The audit log holds pre-existing objects as ADDED, then every write with its version."""
    log = WriteLog(store=sim.store, resources=("nodes", "pods"))
    assert {w.type for w in log.of("nodes")} == {"ADDED"} and len(log.of("nodes")) == 3
    created = await sim.create("pods", pod_manifest("a"))
    await sim.delete("pods", "a", grace_period_seconds=0)
    pods = log.of("pods")
    assert pods[0].type == "ADDED" and pods[0].uid == created["metadata"]["uid"]
    assert pods[-1].type == "DELETED"
    versions = [int(w.resource_version) for w in pods]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
