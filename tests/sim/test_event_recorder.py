"""The event recorders' own write path against the registry's generic create."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from tests.sim.conftest import MakeSim
from tracewatch.sim import SimCluster
from tracewatch.sim.errors import ApiError
from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.store import Stored

AT = 1_700_000_000_123_456_789
POD = Ref(namespace="default", name="web-7d4b9-x2x7q", uid="3f1c-pod", resource_version="417")


def _normalised(data: bytes) -> bytes:
    """The bytes with the uid and resourceVersion (which no two creates share) blanked."""
    data = re.sub(rb'"uid":"[0-9a-f-]{36}"', b'"uid":"U"', data)
    return re.sub(rb'"resourceVersion":"\d+","creationTimestamp"', b'"resourceVersion":"R",'
                  b'"creationTimestamp"', data)


def _created_generically(sim: SimCluster, recorded: Stored, manager: str) -> Stored:
    """The same event as a client would send it, created through `Registry.create` instead."""
    event: dict[str, Any] = orjson.loads(recorded.data)
    meta = event["metadata"]
    sim.registry.store.remove("events", (meta["namespace"], meta["name"]))
    event["metadata"] = {"name": meta["name"], "namespace": meta["namespace"]}
    at = recorded_at(recorded)
    return sim.registry.create(
        "events", event, namespace=meta["namespace"], manager=manager, at_ns=at
    )


def recorded_at(stored: Stored) -> int:
    """The emitting clock's instant, from the event's name (`<object>.<hex UnixNano>`)."""
    return int(orjson.loads(stored.data)["metadata"]["name"].rsplit(".", 1)[1], 16)


@pytest.mark.parametrize("host", ["node-3", ""])
async def test_legacy_event_bytes_match_the_generic_create(make_sim: MakeSim, host: str) -> None:
    """A kubelet/controller event is stored byte for byte as Registry.create would store it."""
    sim = await make_sim(nodes=1)
    recorder = EventRecorder(registry=sim.registry)
    recorded = recorder.legacy(
        about=POD, at_ns=AT, reason="Pulled", component="kubelet", host=host,
        message='Container image "nginx:1.25" already present on machine',
        field_path="spec.containers{web}",
    )
    generic = _created_generically(sim, recorded, "kubelet")
    assert _normalised(recorded.data) == _normalised(generic.data)
    assert recorded.data != generic.data  # a uid of its own each time
    event = orjson.loads(recorded.data)
    assert event["metadata"]["uid"] == recorded.uid
    assert event["metadata"]["resourceVersion"] == str(recorded.rv)


async def test_structured_event_bytes_match_the_generic_create(make_sim: MakeSim) -> None:
    """The scheduler's events.k8s.io event (eventTime, no source) matches the generic create too."""
    sim = await make_sim(nodes=1)
    recorder = EventRecorder(registry=sim.registry)
    recorded = recorder.structured(
        about=POD, at_ns=AT, reason="Scheduled", action="Binding", component="default-scheduler",
        instance="default-scheduler-sim", message="Successfully assigned default/web to node-1",
    )
    generic = _created_generically(sim, recorded, "default-scheduler")
    assert _normalised(recorded.data) == _normalised(generic.data)
    assert orjson.loads(recorded.data)["eventTime"] == "2023-11-14T22:13:20.123456Z"


async def test_recorded_events_reach_watch_history_and_listeners(make_sim: MakeSim) -> None:
    """A recorded event is an ADDED write at the next resourceVersion; listeners get it decoded."""
    sim = await make_sim(nodes=1)
    store = sim.registry.store
    seen: list[tuple[str, dict[str, Any]]] = []
    store.listen("events", lambda type_, obj: seen.append((type_, obj)))
    before = store.rv
    recorded = EventRecorder(registry=sim.registry).legacy(
        about=POD, at_ns=AT, reason="Started", message="Started container web",
        component="kubelet", host="node-1",
    )
    assert recorded.rv == before + 1
    assert [e.stored for e in store.since("events", before)] == [recorded]
    assert seen == [("ADDED", orjson.loads(recorded.data))]


async def test_recorder_refuses_what_the_server_refuses(make_sim: MakeSim) -> None:
    """An event in a namespace that does not exist is 404; a name taken already is 409."""
    sim = await make_sim(nodes=1)
    recorder = EventRecorder(registry=sim.registry)
    elsewhere = Ref(namespace="nowhere", name="p", uid="u", resource_version="1")
    with pytest.raises(ApiError) as missing:
        recorder.legacy(about=elsewhere, at_ns=AT, reason="R", message="m", component="c", host="")
    assert missing.value.code == 404
    recorder.legacy(about=POD, at_ns=AT, reason="R", message="m", component="c", host="")
    with pytest.raises(ApiError) as taken:
        recorder.legacy(about=POD, at_ns=AT, reason="R", message="m", component="c", host="")
    assert taken.value.code == 409
