"""How the simulator decodes and re-encodes stored objects: drafts, views, field sets, uids."""

from __future__ import annotations

import random
import uuid
from typing import Any

import msgspec
import orjson

from tracewatch.sim.manifests import pod_manifest
from tracewatch.sim.objects import fields_v1
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import CORE_V1
from tracewatch.sim.store import ObjectStore, Stored
from tracewatch.sim.truth import GroundTruth
from tracewatch.sim.views import PodForKubelet, PodForScheduling, view

AT = 1_704_164_645_123_456_789


def _registry() -> Registry:
    store = ObjectStore(resources=CORE_V1, history_size=100)
    registry = Registry(store=store, truth=GroundTruth(), rng=random.Random(1))
    registry.create("namespaces", {"metadata": {"name": "ns"}}, namespace=None, manager="test")
    return registry


def _running_pod(registry: Registry) -> Stored:
    """A pod written three times by two managers (so its managedFields has two entries)."""
    registry.create("pods", pod_manifest("web"), namespace="ns", manager="kubectl", at_ns=AT)
    _kubelet_status_write(registry, ready=True)
    return _kubelet_status_write(registry, ready=True)


def _kubelet_status_write(registry: Registry, *, ready: bool) -> Stored:
    """The kubelet marks the pod Running (and Ready) through /status."""

    def run(obj: dict[str, Any]) -> None:
        obj["status"]["phase"] = "Running"
        if ready:
            obj["status"]["conditions"] = [{"type": "Ready", "status": "True"}]

    return _status_write(registry, "pods", "web", run, manager="kubelet")


def _status_write(
    registry: Registry, resource: str, name: str, mutate: Any, *, manager: str
) -> Stored:
    """A /status write recording the whole status as `manager`'s fields."""
    stored = registry.update(
        resource,
        namespace="ns",
        name=name,
        mutate=mutate,
        manager=manager,
        at_ns=AT,
        subresource="status",
        fields=lambda obj: {"f:status": fields_v1(obj["status"])},
    )
    assert stored is not None
    return stored


def _without_field_sets(obj: dict[str, Any]) -> dict[str, Any]:
    for entry in obj["metadata"]["managedFields"]:
        entry.pop("fieldsV1")
    return obj


def test_draft_is_the_object_with_field_sets_left_encoded() -> None:
    """A draft decodes like `obj` except fieldsV1, and stores back to the very same bytes."""
    registry = _registry()
    stored = _running_pod(registry)
    assert stored.fields_end > stored.fields_at > 0  # managedFields was split out
    draft = stored.draft()
    assert _without_field_sets(stored.draft()) == _without_field_sets(stored.obj)
    rewritten = registry.store.put("pods", draft)
    before, after = stored.obj, rewritten.obj
    assert after["metadata"].pop("resourceVersion") != before["metadata"].pop("resourceVersion")
    assert after == before
    assert (
        rewritten.data.replace(
            f'"resourceVersion":"{rewritten.rv}"'.encode(),
            f'"resourceVersion":"{stored.rv}"'.encode(),
        )
        == stored.data
    )


def test_drafts_decode_every_managed_fields_entry_as_written() -> None:
    """Drafts hold each entry's keys and values in order, field sets encoded as they were."""
    registry = _registry()
    _running_pod(registry)
    odd_sets = [
        ('we"ird},{"manager":"x', None, {"f:metadata": {"f:labels": {'f:a"},{"manager":': {}}}}),
        ("scaler", "scale", {"f:spec": {"f:replicas": {}}}),
        ("ünïcode", "status", {"f:status": {'k:{"manager":"m","fieldsV1":1}': {".": {}}}}),
    ]
    for manager, subresource, fields in odd_sets:
        stored = registry.update(
            "pods",
            namespace="ns",
            name="web",
            mutate=lambda obj: None,
            manager=manager,
            at_ns=AT,
            subresource=subresource,
            fields=lambda obj, fields=fields: fields,  # type: ignore[misc]
        )
        assert stored is not None
    written = stored.obj["metadata"]["managedFields"]
    assert [(e["manager"], e.get("subresource")) for e in written] == [
        ("kubectl", None),
        ("kubelet", "status"),
        *((m, s) for m, s, _ in odd_sets),
    ]
    for draft in (stored.draft(), stored.status_draft()):
        entries = draft["metadata"]["managedFields"]
        assert [list(e) for e in entries] == [list(e) for e in written]
        for entry, as_written in zip(entries, written, strict=True):
            assert isinstance(entry["fieldsV1"], msgspec.Raw)
            assert orjson.loads(bytes(entry["fieldsV1"])) == as_written["fieldsV1"]
            assert {**entry, "fieldsV1": None} == {**as_written, "fieldsV1": None}


def _entries_as_written(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """A draft's managedFields entries with every field set decoded."""
    return [
        {
            **entry,
            "fieldsV1": orjson.loads(bytes(sets))
            if isinstance(sets := entry["fieldsV1"], msgspec.Raw)
            else sets,
        }
        for entry in draft["metadata"]["managedFields"]
    ]


def test_store_drafts_hold_the_entries_the_stored_bytes_hold() -> None:
    """A store draft taken after a status write, after a write keeping managedFields, or after
    any other, is the draft decoded from the stored bytes."""
    registry = _registry()
    store = registry.store

    def check(stored: Stored | None) -> None:
        assert stored is not None
        for status in (True, False):  # the first takes the entries the write handed on
            draft = store.draft(stored, status=status)
            from_bytes = stored.status_draft() if status else stored.draft()
            assert _entries_as_written(draft) == _entries_as_written(from_bytes)
            draft["metadata"].pop("managedFields")
            from_bytes["metadata"].pop("managedFields")
            assert {**draft, "spec": None} == {**from_bytes, "spec": None}

    _running_pod(registry)
    check(_kubelet_status_write(registry, ready=False))
    _kubelet_status_write(registry, ready=True)
    check(
        registry.update(  # records no fields: managedFields kept as they were
            "pods", namespace="ns", name="web", mutate=lambda obj: None, manager="", at_ns=AT
        )
    )
    _kubelet_status_write(registry, ready=False)
    check(
        registry.remove_finalizer(
            "pods", namespace="ns", name="web", finalizer="none", manager="test", at_ns=AT
        )
    )


def test_writes_through_drafts_keep_other_managers_field_sets() -> None:
    """A status write replaces its own managedFields entry and keeps the others as they were."""
    stored = _running_pod(_registry())
    entries = {e["manager"]: e for e in stored.obj["metadata"]["managedFields"]}
    assert set(entries) == {"kubectl", "kubelet"}
    assert "f:spec" in entries["kubectl"]["fieldsV1"]
    assert entries["kubelet"]["fieldsV1"] == {
        "f:status": {
            "f:phase": {},
            "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:type": {}, "f:status": {}}},
            "f:qosClass": {},
        }
    }


def test_status_writes_are_spliced_into_the_bytes_a_full_encoding_gives() -> None:
    """A /status write stores exactly the bytes a full write of the same object would."""
    registry = _registry()
    first = _running_pod(registry)
    assert first.status_at > first.fields_end > 0  # status split out too
    spliced = _kubelet_status_write(registry, ready=False)
    assert spliced.status_at > spliced.fields_end
    assert spliced.data[spliced.status_at :].startswith(b',"status":{')
    assert spliced.data[spliced.fields_at :].startswith(b',"managedFields":[')
    full = registry.store.put("pods", spliced.draft())  # encoded whole, no splice
    assert (
        full.data.replace(
            f'"resourceVersion":"{full.rv}"'.encode(), f'"resourceVersion":"{spliced.rv}"'.encode()
        )
        == spliced.data
    )
    assert (full.fields_at, full.fields_end, full.status_at) == (
        spliced.fields_at,
        spliced.fields_end,
        spliced.status_at,
    )


def test_status_writes_keep_the_stored_spec_and_take_metadata() -> None:
    """Like the real status strategies: spec changes are dropped, annotations are taken."""
    registry = _registry()
    claim = {"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}}
    registry.create("persistentvolumeclaims", claim, namespace="ns", manager="kubectl")
    before = registry.get("persistentvolumeclaims", namespace="ns", name="data").obj

    def meddle(obj: dict[str, Any]) -> None:
        obj["spec"]["resources"]["requests"]["storage"] = "9Gi"
        obj["metadata"]["annotations"] = {"note": "set through /status"}
        obj["status"]["phase"] = "Bound"

    after = _status_write(
        registry, "persistentvolumeclaims", "data", meddle, manager="pv-controller"
    ).obj
    assert after["spec"] == before["spec"]
    assert after["status"]["phase"] == "Bound"
    assert after["metadata"]["annotations"] == {"note": "set through /status"}
    assert list(after["metadata"])[-1] == "managedFields"


def test_a_pods_status_draft_leaves_only_the_spec_encoded() -> None:
    """The draft a pod's /status write gets is the object, spec still in its stored bytes."""
    stored = _running_pod(_registry())
    draft = stored.status_draft()
    assert isinstance(draft["spec"], orjson.Fragment)
    assert orjson.loads(orjson.dumps(draft["spec"])) == stored.obj["spec"]
    assert _without_field_sets(draft | {"spec": stored.obj["spec"]}) == _without_field_sets(
        stored.obj
    )


def test_removal_announces_the_last_state_at_a_new_version() -> None:
    """The DELETED entry carries the object's last bytes, only its resourceVersion moved."""
    registry = _registry()
    stored = _running_pod(registry)
    removed = registry.store.remove("pods", ("ns", "web"))
    assert removed is not None and removed.rv > stored.rv
    last, final = stored.obj, removed.obj
    assert final["metadata"].pop("resourceVersion") == str(removed.rv)
    last["metadata"].pop("resourceVersion")
    assert final == last


def test_removal_restamps_only_the_resource_version_in_the_bytes() -> None:
    """The DELETED bytes are the last bytes with metadata.resourceVersion moved, and no more."""
    registry = _registry()
    stored = _running_pod(registry)
    removed = registry.store.remove("pods", ("ns", "web"))
    assert removed is not None
    assert removed.data == stored.data.replace(
        f'"resourceVersion":"{stored.rv}"'.encode(), f'"resourceVersion":"{removed.rv}"'.encode()
    )
    assert (
        removed.draft()["metadata"]["managedFields"] == stored.draft()["metadata"]["managedFields"]
    )


def test_every_version_puts_resource_version_after_uid() -> None:
    """metadata keys follow the Go struct's order in the first stored version as in later ones."""
    registry = _registry()
    created = registry.create(
        "pods", pod_manifest("web"), namespace="ns", manager="kubectl", at_ns=AT
    )
    later = _kubelet_status_write(registry, ready=False)
    order = ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"]
    for stored in (created, later):
        keys = list(stored.obj["metadata"])
        assert [k for k in keys if k in order] == order
        assert keys[-1] == "managedFields"
        assert stored.fields_end > stored.fields_at > 0  # managedFields split out each time


def test_a_write_recording_no_fields_keeps_managed_fields_and_orders_new_metadata() -> None:
    """A write without a managedFields record keeps the entries' bytes; keys it adds are ordered."""
    registry = _registry()
    stored = _running_pod(registry)

    def mark(obj: dict[str, Any]) -> None:
        obj["metadata"]["finalizers"] = ["example.com/hold"]
        obj["metadata"]["deletionTimestamp"] = "2024-01-02T03:04:05Z"

    marked = registry.update("pods", namespace="ns", name="web", mutate=mark, manager="x", at_ns=AT)
    assert marked is not None
    entries = stored.data[stored.fields_at : stored.fields_end]
    assert marked.data[marked.fields_at : marked.fields_end] == entries
    keys = list(marked.obj["metadata"])
    assert keys[-4:] == ["creationTimestamp", "deletionTimestamp", "finalizers", "managedFields"]


def test_partial_views_hold_only_their_fields() -> None:
    """A view decodes just the fields it declares, with the values the full object has."""
    registry = _registry()
    pod = _running_pod(registry).obj
    stored = registry.get("pods", namespace="ns", name="web")
    assert view(stored, PodForKubelet) == {
        "spec": {
            "containers": pod["spec"]["containers"],
            "restartPolicy": pod["spec"]["restartPolicy"],
        },
        "status": {},
    }
    assert view(stored, PodForScheduling) == {
        "metadata": {"namespace": "ns"},
        "spec": {"volumes": pod["spec"]["volumes"], "containers": pod["spec"]["containers"]},
    }


def test_views_decode_as_from_the_whole_bytes_with_managed_fields_cut() -> None:
    """A view of an object with managedFields split out equals one decoded from all its bytes."""
    registry = _registry()
    running = _running_pod(registry)
    entries = running.draft()["metadata"]["managedFields"]
    bare = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "bare", "namespace": "ns"}}
    bare["metadata"]["managedFields"] = entries  # metadata is the last key: nothing after it
    only_metadata = registry.store.put("pods", bare)
    assert only_metadata.fields_end == len(only_metadata.data) - 2
    for stored in (running, only_metadata):
        assert stored.fields_end > 0
        for shape in (PodForKubelet, PodForScheduling):
            whole = msgspec.json.decode(stored.data, type=shape)
            assert view(stored, shape) == whole
    assert view(only_metadata, PodForKubelet) == {}


def test_field_sets_of_keyed_items_follow_each_key_value() -> None:
    """Items of the same shape but another key value (or key type) get their own `k:` entry."""
    first = fields_v1({"ports": [{"containerPort": 1, "protocol": "TCP"}]})
    second = fields_v1({"ports": [{"containerPort": 81, "protocol": "TCP"}]})
    weird = fields_v1({"ports": [{"containerPort": True, "protocol": "TCP"}]})
    assert first == {
        "f:ports": {'k:{"containerPort":1}': {".": {}, "f:containerPort": {}, "f:protocol": {}}}
    }
    assert list(second["f:ports"]) == ['k:{"containerPort":81}']
    assert list(weird["f:ports"]) == ['k:{"containerPort":true}']
    assert fields_v1({"args": ["a", "b"], "empty": {}, "none": None}) == {
        "f:args": {},
        "f:empty": {},
        "f:none": {},
    }


def test_field_sets_of_maps_follow_their_keys_and_nesting() -> None:
    """Maps with the same keys share a set whatever their values, unless a value nests."""
    flat = fields_v1({"source": {"component": "kubelet", "host": "a"}})
    same = fields_v1({"source": {"component": "scheduler", "host": None}})
    nested = fields_v1({"source": {"component": "kubelet", "host": {"name": "a"}}})
    assert flat == same == {"f:source": {"f:component": {}, "f:host": {}}}
    assert nested == {"f:source": {"f:component": {}, "f:host": {"f:name": {}}}}
    assert fields_v1({"conditions": [{"type": "A", "status": {"x": 1}}]}) == {
        "f:conditions": {'k:{"type":"A"}': {".": {}, "f:type": {}, "f:status": {"f:x": {}}}}
    }
    assert fields_v1({"conditions": [{"status": "True"}]}) == {"f:conditions": {}}  # atomic


def test_uids_are_random_version_4_uuids() -> None:
    """Created objects get distinct RFC 4122 version-4 uids in the canonical text form."""
    registry = _registry()
    uids = [
        registry.create(
            "namespaces", {"metadata": {"name": f"n{i}"}}, namespace=None, manager="t"
        ).uid
        for i in range(200)
    ]
    assert len(set(uids)) == len(uids)
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == uid
