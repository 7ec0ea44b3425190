"""Sharding and authentication against the simulated cluster over HTTP.

Two shards together must see exactly what one unsharded watcher sees; a wrong
token keeps informers unready (auth_failing) without killing them; a read-only
token is all tracewatch needs; a rotated token file is picked up after a 401.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer
from tracewatch.kube.sharding import Shard, shard_of
from tracewatch.sim import SimCluster, certs
from tracewatch.sim.faults import WriteLog

from .watch_harness import (
    FAST_INFORMERS,
    RESOURCES,
    churn,
    converge,
    sim_options,
    wait_synced,
    watching,
)

NAMESPACES = ("shop", "billing", "search", "auth", "default", "media")


def _seen(observations: list) -> list[tuple[str, str, str, str]]:
    return sorted(
        (o.resource, o.change.value, o.obj.metadata.uid, o.obj.metadata.resource_version)
        for o in observations
    )


async def test_two_shards_together_see_what_one_unsharded_watcher_sees(tmp_path: Path) -> None:
    """The union of shards 0 and 1 equals the unsharded observations, with no overlap, and
    cluster-scoped objects (nodes) land on shard 0 only."""
    assert len({shard_of(ns, total_shards=2) for ns in NAMESPACES}) == 2
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        for ns in NAMESPACES:
            if ns != "default":
                await sim.create("namespaces", {"metadata": {"name": ns}}, namespace=None)
        log = WriteLog(store=sim.store, resources=RESOURCES)
        async with (
            watching(sim, tmp_path / "all") as whole,
            watching(sim, tmp_path / "s0", shard=Shard(index=0, total=2)) as first,
            watching(sim, tmp_path / "s1", shard=Shard(index=1, total=2)) as second,
        ):
            for state in (whole, first, second):
                await wait_synced(state)
            await churn(sim, rounds=4, namespaces=NAMESPACES)
            await converge(whole, log)
            # The shards are caught up once their union holds every observation of `whole`.
            async with asyncio.timeout(5):
                while len(first.observations) + len(second.observations) < len(
                    whole.observations
                ):
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
    union = _seen(first.observations) + _seen(second.observations)
    assert sorted(union) == _seen(whole.observations)
    assert not set(_seen(first.observations)) & set(_seen(second.observations))
    assert all(o.resource != "nodes" for o in second.observations)
    assert any(o.resource == "nodes" for o in first.observations)
    for o in second.observations:
        assert shard_of(o.obj.metadata.namespace, total_shards=2) == 1
    # Shard 1 does not even watch cluster-scoped resources.
    assert {i.resource.name for i in second.informers} == {"pods", "events"}


async def test_wrong_token_keeps_informers_unready_and_retrying(tmp_path: Path) -> None:
    """A token the server refuses: 401, auth_failing set, nothing synced, retries continue."""
    async with (
        SimCluster(sim_options()) as sim,
        watching(sim, tmp_path, resources=("pods",), token="not-a-token") as state,
    ):
        informer = state.informers[0]
        async with asyncio.timeout(5):
            while informer.stats.restarts["unauthorized"] < 3:
                await asyncio.sleep(0.01)
        assert informer.auth_failing and not informer.has_synced
        assert informer.last_error is not None and "401" in informer.last_error
        assert "not-a-token" not in informer.last_error


async def test_read_only_token_is_enough(tmp_path: Path) -> None:
    """tracewatch only reads: with the simulator's read-only token every informer syncs and
    sees the writes."""
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        log = WriteLog(store=sim.store, resources=RESOURCES)
        async with watching(sim, tmp_path, token=sim.readonly_token) as state:
            await wait_synced(state)
            await churn(sim, rounds=2)
            await converge(state, log)
            assert not any(i.auth_failing for i in state.informers)


async def test_rotated_token_file_is_reread_after_a_401(tmp_path: Path) -> None:
    """In-cluster credentials: the token file holds a stale token (401s, auth_failing); once
    kubelet rotates it, the next retry re-reads the file and the informer syncs."""
    async with SimCluster(sim_options(tls=True)) as sim:
        token_file = tmp_path / "token"
        token_file.write_text("stale-token")
        ca_file = tmp_path / "ca.crt"
        ca_file.write_text(certs.CA_PEM)
        host, port = sim.url.removeprefix("https://").rsplit(":", 1)
        connection = await ApiConnection.from_incluster(
            token_filename=str(token_file),
            cert_filename=str(ca_file),
            environ={"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port},
        )
        async with connection:
            informer = Informer(
                connection=connection, resource="pods", sink=lambda o: None,
                options=FAST_INFORMERS,
            )
            task = asyncio.create_task(informer.run())
            try:
                async with asyncio.timeout(5):
                    while not informer.auth_failing:
                        await asyncio.sleep(0.01)
                # kubelet's rotation: a new file swapped in atomically.
                fresh = tmp_path / "token.new"
                fresh.write_text(sim.readonly_token)
                fresh.replace(token_file)
                async with asyncio.timeout(5):
                    await informer.wait_synced()
                assert not informer.auth_failing
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
