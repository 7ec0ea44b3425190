"""Bearer-token authentication (401) and the read-only token's authorization (403)."""

from __future__ import annotations

import aiohttp
import pytest

from tracewatch.sim import SimCluster, pod_manifest
from tracewatch.sim.errors import ApiError


def _session(sim: SimCluster, token: str | None) -> aiohttp.ClientSession:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return aiohttp.ClientSession(base_url=sim.url, headers=headers)


async def test_missing_or_wrong_token_is_401(sim: SimCluster) -> None:
    """Resource and discovery paths refuse anonymous and unknown tokens with a 401 Status."""
    for token in (None, "not-the-token"):
        async with _session(sim, token) as http:
            for path in ("/api/v1/pods", "/api", "/api/v1/namespaces/default/pods/x"):
                async with http.get(path) as response:
                    body = await response.json()
                assert response.status == 401, (token, path)
                assert body == {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "Unauthorized",
                    "reason": "Unauthorized",
                    "code": 401,
                }


async def test_version_is_public_but_a_bad_token_still_fails(sim: SimCluster) -> None:
    """/version answers anonymous clients; presenting a wrong token is still a 401."""
    async with _session(sim, None) as http, http.get("/version") as response:
        assert response.status == 200
    async with _session(sim, "wrong") as http, http.get("/version") as response:
        assert response.status == 401


async def test_readonly_token_reads_and_watches(sim: SimCluster) -> None:
    """The read-only token may list, get and watch."""
    await sim.create("pods", pod_manifest("p"))
    async with _session(sim, sim.readonly_token) as http:
        async with http.get("/api/v1/pods") as response:
            assert response.status == 200
        async with http.get("/api/v1/namespaces/default/pods/p") as response:
            assert response.status == 200
        params = {"watch": "1", "timeoutSeconds": "0.1"}
        async with http.get("/api/v1/pods", params=params) as response:
            assert response.status == 200
            assert b'"ADDED"' in await response.read()


async def test_readonly_token_gets_403_on_writes(sim: SimCluster) -> None:
    """Create and delete with the read-only token are Forbidden and change nothing."""
    await sim.create("pods", pod_manifest("keep"))
    async with _session(sim, sim.readonly_token) as http:
        async with http.post("/api/v1/namespaces/default/pods", json=pod_manifest("p")) as response:
            created = await response.json()
        async with http.delete("/api/v1/namespaces/default/pods/keep") as response:
            deleted = await response.json()
    assert created["code"] == 403 and created["reason"] == "Forbidden"
    assert created["message"] == (
        'pods is forbidden: User "tracewatch-sim-readonly" cannot create resource "pods" '
        'in API group "" in the namespace "default"'
    )
    assert deleted["code"] == 403
    assert deleted["details"] == {"name": "keep", "kind": "pods"}
    assert deleted["message"].startswith('pods "keep" is forbidden')
    # The scheduler and kubelet go on writing "keep"; the refused writes left no trace.
    with pytest.raises(ApiError) as missing:
        sim.get("pods", "p")
    assert missing.value.code == 404
    assert "deletionTimestamp" not in sim.get("pods", "keep")["metadata"]
