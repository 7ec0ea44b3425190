"""What a pod's /status write hands on: the next draft of that version, and its listeners."""

from __future__ import annotations

import itertools
import random
from typing import Any

import msgspec
import orjson

from tracewatch.sim.manifests import pod_manifest
from tracewatch.sim.objects import pod_status_fields
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import CORE_V1
from tracewatch.sim.store import ObjectStore, Stored
from tracewatch.sim.truth import GroundTruth

AT = 1_704_164_645_123_456_789


def _registry() -> Registry:
    store = ObjectStore(resources=CORE_V1, history_size=100)
    registry = Registry(store=store, truth=GroundTruth(), rng=random.Random(1))
    registry.create("namespaces", {"metadata": {"name": "ns"}}, namespace=None, manager="test")
    pod = pod_manifest("web", node_name="node-1")  # bound: a deletion is graceful
    registry.create("pods", pod, namespace="ns", manager="kubectl", at_ns=AT)
    return registry


def _kubelet_write(registry: Registry, phase: str) -> Stored:
    """A /status write as the kubelet makes them: the whole status recorded as its fields."""

    def change(obj: dict[str, Any]) -> None:
        status = obj.setdefault("status", {})
        status["phase"] = phase
        status.setdefault("conditions", []).append({"type": phase, "status": "True"})
        status["podIPs"] = [{"ip": "10.244.0.2"}]

    stored = registry.update(
        "pods",
        namespace="ns",
        name="web",
        mutate=change,
        manager="kubelet",
        at_ns=AT,
        subresource="status",
        fields=lambda obj: pod_status_fields(obj["status"]),
    )
    assert stored is not None
    return stored


def _plain(value: Any) -> Any:
    """`value` with what drafts leave encoded (spec, field sets, managedFields) decoded."""
    if isinstance(value, orjson.Fragment):
        return orjson.loads(orjson.dumps(value))
    if isinstance(value, msgspec.Raw):
        return orjson.loads(bytes(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _as_stored(obj: dict[str, Any]) -> bytes:
    """The bytes `obj` stands for, keys in their order."""
    return orjson.dumps(_plain(obj))


def test_every_draft_after_a_pod_status_write_is_the_stored_object() -> None:
    """Status or full, with managedFields entries or without: the draft that takes what the
    write handed on holds what the stored bytes decode to, in the same order."""
    for status, entries in itertools.product((True, False), repeat=2):
        registry = _registry()
        _kubelet_write(registry, "Pending")
        stored = _kubelet_write(registry, "Running")
        draft = registry.store.draft(stored, status=status, entries=entries)
        assert isinstance(draft["spec"], orjson.Fragment) is status
        assert isinstance(draft["metadata"]["managedFields"], list) is entries
        assert _as_stored(draft) == orjson.dumps(orjson.loads(stored.data))


def test_a_handed_on_draft_is_taken_once() -> None:
    """The second draft of the same version is decoded anew: the first writer owns the first."""
    registry = _registry()
    stored = _kubelet_write(registry, "Running")
    first = registry.store.draft(stored, status=True)
    first["status"]["phase"] = "Failed"
    first["metadata"]["labels"] = {"changed": "yes"}
    second = registry.store.draft(stored, status=True)
    assert _as_stored(second) == orjson.dumps(orjson.loads(stored.data))


def test_listeners_are_shown_each_pod_write_as_stored() -> None:
    """What a listener is shown at each write (status writes, deletion mark, DELETED) is the
    stored object, whatever later writes do with what was handed on."""
    registry = _registry()
    shown: list[tuple[str, bytes]] = []
    registry.store.listen("pods", lambda type_, obj: shown.append((type_, _as_stored(obj))))
    written = [_kubelet_write(registry, "Pending"), _kubelet_write(registry, "Running")]
    written.append(registry.delete("pods", namespace="ns", name="web", at_ns=AT))
    written.append(_kubelet_write(registry, "Succeeded"))
    removed = registry.remove("pods", namespace="ns", name="web", at_ns=AT)
    assert removed is not None
    written.append(removed)
    assert [t for t, _ in shown] == ["MODIFIED"] * 4 + ["DELETED"]
    assert [b for _, b in shown] == [orjson.dumps(orjson.loads(s.data)) for s in written]


def test_a_listener_may_skip_status_writes() -> None:
    """A listener registered with `status_writes=False` is told of a pod's main writes (its
    deletion mark, its removal) but not of its /status writes; `unlisten` ends either kind."""
    registry = _registry()
    every: list[str] = []
    main: list[str] = []
    listeners = (lambda type_, obj: every.append(type_), lambda type_, obj: main.append(type_))
    registry.store.listen("pods", listeners[0])
    registry.store.listen("pods", listeners[1], status_writes=False)
    _kubelet_write(registry, "Running")
    registry.delete("pods", namespace="ns", name="web", at_ns=AT)
    _kubelet_write(registry, "Succeeded")
    registry.remove("pods", namespace="ns", name="web", at_ns=AT)
    assert every == ["MODIFIED", "MODIFIED", "MODIFIED", "DELETED"]
    assert main == ["MODIFIED", "DELETED"]
    for listener in listeners:
        registry.store.unlisten("pods", listener)
    registry.create("pods", pod_manifest("web"), namespace="ns", manager="kubectl", at_ns=AT)
    assert (len(every), len(main)) == (4, 2)


def test_a_deletion_mark_stores_the_bytes_a_full_encoding_gives() -> None:
    """A pod's deletion mark, spec and status left encoded, is stored as if encoded whole."""
    registry = _registry()
    _kubelet_write(registry, "Running")
    marked = registry.delete("pods", namespace="ns", name="web", at_ns=AT)
    assert marked.status_at > marked.fields_end > 0  # managedFields and status split out
    assert orjson.loads(marked.data)["metadata"]["deletionGracePeriodSeconds"] == 30
    full = registry.store.put("pods", marked.draft())
    assert full.data == marked.data.replace(
        f'"resourceVersion":"{marked.rv}"'.encode(), f'"resourceVersion":"{full.rv}"'.encode()
    )
    assert (full.fields_at, full.fields_end, full.status_at) == (
        marked.fields_at,
        marked.fields_end,
        marked.status_at,
    )
