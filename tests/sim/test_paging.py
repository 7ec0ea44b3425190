"""List paging with limit/continue: consistent snapshots, remaining counts, expiry."""

from __future__ import annotations

import aiohttp

from tracewatch.sim import SimCluster

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


async def _make_leases(sim: SimCluster, count: int) -> None:
    for i in range(count):
        await sim.create("leases", {"metadata": {"name": f"l-{i:02d}"}, "spec": {}})


async def _page(http: aiohttp.ClientSession, path: str, **params: str) -> dict[str, object]:
    async with http.get(path, params=params) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_pages_cover_a_consistent_snapshot_at_one_resource_version(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Every page carries the first page's resourceVersion; writes after page 1 do not show."""
    await _make_leases(sim, 5)
    first = await _page(http, LEASES, limit="2")
    meta = first["metadata"]
    assert [i["metadata"]["name"] for i in first["items"]] == ["l-00", "l-01"]
    assert meta["remainingItemCount"] == 3 and meta["continue"]
    await sim.create("leases", {"metadata": {"name": "l-99"}, "spec": {}})
    sim.registry.delete("leases", namespace="default", name="l-03")
    names = [i["metadata"]["name"] for i in first["items"]]
    token = meta["continue"]
    while token:
        page = await _page(http, LEASES, limit="2", **{"continue": token})
        assert page["metadata"]["resourceVersion"] == meta["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
    assert names == ["l-00", "l-01", "l-02", "l-03", "l-04"]
    fresh = await _page(http, LEASES)
    assert "continue" not in fresh["metadata"]
    assert [i["metadata"]["name"] for i in fresh["items"]] == [
        "l-00",
        "l-01",
        "l-02",
        "l-04",
        "l-99",
    ]


async def test_cluster_wide_paging_with_a_selector_omits_the_remaining_count(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """remainingItemCount is only set when no selector filters, as on the real server."""
    await _make_leases(sim, 3)
    page = await _page(
        http,
        "/apis/coordination.k8s.io/v1/leases",
        limit="1",
        fieldSelector="metadata.namespace=default",
    )
    assert len(page["items"]) == 1 and page["metadata"]["continue"]
    assert "remainingItemCount" not in page["metadata"]


async def test_expired_and_garbled_continue_tokens(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A token whose snapshot is gone is 410 Expired; a token we never wrote is 400."""
    await _make_leases(sim, 3)
    first = await _page(http, LEASES, limit="1")
    sim.registry.snapshots.clear()
    async with http.get(
        LEASES, params={"limit": "1", "continue": first["metadata"]["continue"]}
    ) as r:
        body = await r.json()
    assert r.status == 410 and body["reason"] == "Expired" and body["code"] == 410
    assert "continue parameter is too old" in body["message"]
    async with http.get(LEASES, params={"limit": "1", "continue": "bm90LWEtdG9rZW4"}) as r:
        assert r.status == 400 and (await r.json())["reason"] == "BadRequest"
    async with http.get(LEASES, params={"limit": "-1"}) as r:
        assert r.status == 400
