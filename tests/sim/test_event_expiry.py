"""Events expire `--event-ttl` after their last write, as etcd leases end them in real clusters."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest

from tests.sim.conftest import MakeSim
from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.eventttl import LEASE_REUSE_S, EventExpiry
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import RESOURCES
from tracewatch.sim.store import ObjectStore
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.truth import GroundTruth

POD = Ref(namespace="default", name="web", uid="pod-uid", resource_version="7")
TTL = 3600.0


def _cluster() -> tuple[Registry, EventRecorder, EventExpiry]:
    store = ObjectStore(resources=RESOURCES, history_size=1000)
    registry = Registry(store=store, truth=GroundTruth(), rng=random.Random(1))
    registry.create("namespaces", {"metadata": {"name": "default"}}, namespace=None, manager="t")
    expiry = EventExpiry(store=store, tasks=TaskSet(), ttl=TTL)
    return registry, EventRecorder(registry=registry), expiry


def _event(recorder: EventRecorder, at_ns: int, reason: str = "Pulled") -> str:
    stored = recorder.legacy(about=POD, at_ns=at_ns, reason=reason, message="m",
                             component="kubelet", host="node-1")
    return _name(stored.data)


def _name(data: bytes) -> str:
    name: str = orjson.loads(data)["metadata"]["name"]
    return name


def _names(registry: Registry) -> set[str]:
    return {key[1] for key, _ in registry.store.keyed("events")}


def test_events_go_once_their_last_write_is_ttl_old() -> None:
    """An Event goes at the first sweep after a note taken since its last write is TTL old."""
    registry, recorder, expiry = _cluster()
    expiry.sweep(0.0)
    first = _event(recorder, 1)
    expiry.sweep(10.0)
    second = _event(recorder, 2)
    expiry.sweep(20.0)
    assert expiry.sweep(TTL - 1) == 0
    assert expiry.sweep(TTL) == 0  # the note at 0 came before `first`: it covers nothing
    assert _names(registry) == {first, second}
    assert expiry.sweep(TTL + 10) == 1
    assert _names(registry) == {second}
    assert expiry.sweep(TTL + 19) == 0
    assert expiry.sweep(TTL + 20) == 1
    assert _names(registry) == set()


def test_a_write_renews_the_lease() -> None:
    """A count bump (an update of the Event) restarts its TTL, as it renews the etcd lease."""
    registry, recorder, expiry = _cluster()
    expiry.sweep(0.0)
    name = _event(recorder, 1)
    expiry.sweep(100.0)

    def bump(obj: dict[str, Any]) -> None:
        obj["count"] += 1

    registry.update("events", namespace="default", name=name, mutate=bump, manager="kubelet",
                    at_ns=3)
    expiry.sweep(200.0)
    assert expiry.sweep(TTL + 100) == 0  # written after the note at 100
    assert _names(registry) == {name}
    assert expiry.sweep(TTL + 200) == 1


def test_expired_events_are_deleted_for_watchers() -> None:
    """Each expired Event is a DELETED write at a new resourceVersion, oldest write first."""
    registry, recorder, expiry = _cluster()
    names = [_event(recorder, i, reason=f"R{i}") for i in range(1, 4)]
    before = registry.store.rv
    expiry.sweep(0.0)
    expiry.sweep(TTL)
    deleted = [e for e in registry.store.since("events", before) if e.type == "DELETED"]
    assert [_name(e.stored.data) for e in deleted] == names
    assert [e.rv for e in deleted] == list(range(before + 1, before + 4))


def test_sweeps_come_every_ttl_or_lease_window() -> None:
    """Sweeps are at most a lease-reuse window apart, so no Event outlives TTL + 1 min."""
    assert EventExpiry(store=ObjectStore(resources=RESOURCES, history_size=1), tasks=TaskSet(),
                       ttl=TTL).interval == LEASE_REUSE_S
    assert EventExpiry(store=ObjectStore(resources=RESOURCES, history_size=1), tasks=TaskSet(),
                       ttl=0.5).interval == 0.5
    with pytest.raises(ValueError):
        EventExpiry(store=ObjectStore(resources=RESOURCES, history_size=1), tasks=TaskSet(), ttl=0)


async def test_a_running_cluster_expires_its_events(make_sim: MakeSim) -> None:
    """In a started cluster with a short TTL, a pod's Events disappear on their own."""
    sim = await make_sim(nodes=1, event_ttl=0.2)
    await sim.create("pods", {"metadata": {"name": "p"},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
    uid = sim.truth.uid_of(namespace="default", name="p")
    assert uid is not None
    await sim.truth.wait_for(uid, "ready", timeout=10)
    assert sim.store.count("events") > 0
    for _ in range(100):
        if sim.store.count("events") == 0:
            break
        await asyncio.sleep(0.05)
    assert sim.store.count("events") == 0
    kept = await make_sim(nodes=1, event_ttl=None)
    assert kept.event_expiry is None
