"""Decoding watch lines and List bodies into compact snapshots (tracewatch.kube.decoding)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tracewatch.core.snapshots import Event, Pod
from tracewatch.kube.decoding import SNAPSHOT_TYPES, DecodeError, ResourceDecoder, decoder_for

from ..realdata import ABSENT, REALDATA

POD_FILES = sorted((REALDATA / "pod").glob("*.json")) if REALDATA.is_dir() else []

EXPIRED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "too old resource version: 5 (90)",
    "reason": "Expired",
    "code": 410,
}

EVENT = {
    "kind": "Event",
    "apiVersion": "v1",
    "metadata": {
        "name": "web-1.17c9a",
        "namespace": "default",
        "uid": "e-1",
        "resourceVersion": "77",
    },
    "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "p-1", "resourceVersion": "70"},
    "reason": "Scheduled",
    "message": "Successfully assigned default/web-1 to node-a",
    "type": "Normal",
    "eventTime": "2024-05-01T10:00:00.123456Z",
    "reportingComponent": "default-scheduler",
    "count": 1,
}


def watch_line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode()


def load(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())


@pytest.mark.skipif(not POD_FILES, reason=ABSENT)
@pytest.mark.parametrize("path", POD_FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED", "DELETED"])
def test_real_pods_decode_to_their_fields(path: Path, event_type: str) -> None:
    """Every recorded pod version decodes, as any event type, to the fields its JSON holds."""
    decoder = decoder_for("pods")
    for raw in load(path):
        decoded = decoder.decode_line(watch_line(event_type, raw))
        assert decoded.type == event_type
        assert isinstance(decoded.obj, Pod)
        assert decoded.resource_version == raw["metadata"]["resourceVersion"]
        assert decoded.obj.metadata.uid == raw["metadata"]["uid"]
        assert decoded.obj.status.phase == raw["status"].get("phase", "")
        assert decoded.obj.spec.node_name == raw["spec"].get("nodeName", "")
        conditions = {c.type: c.status for c in decoded.obj.status.conditions}
        assert conditions == {c["type"]: c["status"] for c in raw["status"].get("conditions", [])}
        images = [c.image for c in decoded.obj.spec.containers]
        assert images == [c["image"] for c in raw["spec"]["containers"]]


@pytest.mark.skipif(not POD_FILES, reason=ABSENT)
def test_real_pod_list_decodes_all_items_with_the_list_version() -> None:
    """A PodList of recorded pods decodes to typed items, its resourceVersion and continue token."""
    items = [raw for path in POD_FILES for raw in load(path)]
    body = json.dumps(
        {
            "kind": "PodList",
            "metadata": {"resourceVersion": "999", "continue": "tok"},
            "items": items,
        }
    ).encode()
    page = decoder_for("pods").decode_list(body)
    assert page.resource_version == "999"
    assert page.continue_token == "tok"
    assert page.invalid_items == 0
    assert [p.metadata.resource_version for p in page.items] == [
        i["metadata"]["resourceVersion"] for i in items
    ]
    assert all(isinstance(p, Pod) for p in page.items)


def test_event_line_decodes_to_event_snapshot() -> None:
    """A core/v1 Event watch line decodes into the Event struct with its involved object."""
    decoded = decoder_for("events").decode_line(watch_line("ADDED", EVENT))
    assert isinstance(decoded.obj, Event)
    assert decoded.resource_version == "77"
    assert decoded.obj.involved_object.uid == "p-1"
    assert decoded.obj.involved_object.resource_version == "70"
    assert decoded.obj.event_time == "2024-05-01T10:00:00.123456Z"
    assert (decoded.obj.reason, decoded.obj.type, decoded.obj.count) == ("Scheduled", "Normal", 1)


def test_envelope_decoder_gives_the_line_as_sent() -> None:
    """The unchecked envelope decoder gives the type as written and the same snapshot as
    decode_line, and raises msgspec's own error where decode_line raises DecodeError."""
    decoder = decoder_for("events")
    line = watch_line("SOMETHING", EVENT)
    envelope = decoder.envelope_decoder.decode(line)
    assert envelope.type == "SOMETHING"
    assert envelope.object == decoder.decode_line(watch_line("ADDED", EVENT)).obj
    with pytest.raises(msgspec.ValidationError):
        decoder.envelope_decoder.decode(b'{"type":"ADDED","object":{"count":"x"}}')
    with pytest.raises(DecodeError):
        decoder.decode_line(b'{"type":"ADDED","object":{"count":"x"}}')


@pytest.mark.parametrize("resource", sorted(SNAPSHOT_TYPES))
def test_bookmark_carries_only_the_resource_version(resource: str) -> None:
    """A BOOKMARK yields its resourceVersion and no object, for every registered resource."""
    obj = {"kind": "X", "apiVersion": "v1", "metadata": {"resourceVersion": "12345"}}
    decoded = decoder_for(resource).decode_line(watch_line("BOOKMARK", obj))
    assert (decoded.type, decoded.resource_version, decoded.obj) == ("BOOKMARK", "12345", None)


@pytest.mark.parametrize("resource", sorted(SNAPSHOT_TYPES))
def test_error_event_decodes_to_status(resource: str) -> None:
    """An ERROR line yields its Status (code, reason, message), whatever the watched type."""
    decoded = decoder_for(resource).decode_line(watch_line("ERROR", EXPIRED))
    assert decoded.type == "ERROR"
    assert decoded.obj is None
    assert decoded.status is not None
    assert (decoded.status.code, decoded.status.reason) == (410, "Expired")
    assert decoded.status.message == "too old resource version: 5 (90)"


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b"not json",
        b"[]",
        b'{"type": "ADDED"}',
        b'{"type": "ADDED", "object": {"metadata": {"name": 5}}}',
        b'{"type": "ADDED", "object": {"status": "Failure"}}',
        b'{"type": "SURPRISE", "object": {}}',
        b'{"type": 3, "object": {}}',
    ],
)
def test_malformed_lines_raise_decode_error(raw: bytes) -> None:
    """Any malformed or mistyped watch line raises DecodeError, nothing else."""
    with pytest.raises(DecodeError):
        decoder_for("pods").decode_line(raw)


def test_decode_error_names_the_path_not_the_payload() -> None:
    """The error text points at the bad field and does not echo the line's values."""
    raw = watch_line("ADDED", {"metadata": {"name": 5, "annotations": {"k": "secret-value"}}})
    with pytest.raises(DecodeError) as caught:
        decoder_for("pods").decode_line(raw)
    assert "$.object.metadata.name" in str(caught.value)
    assert "secret-value" not in str(caught.value)


def test_list_with_a_bad_item_keeps_the_others_and_counts_it() -> None:
    """One undecodable item in a List is skipped and counted; the valid items still decode."""
    good = {"metadata": {"name": "a", "uid": "1", "resourceVersion": "3"}}
    body = json.dumps(
        {"metadata": {"resourceVersion": "9"}, "items": [good, {"metadata": {"uid": 7}}, good]}
    ).encode()
    page = decoder_for("pods").decode_list(body)
    assert [p.metadata.name for p in page.items] == ["a", "a"]
    assert page.invalid_items == 1
    assert page.resource_version == "9"


@pytest.mark.parametrize("body", [b"", b"{", b"[1, 2]", b'{"items": 3}'])
def test_malformed_list_body_raises_decode_error(body: bytes) -> None:
    """A body that is not a List raises DecodeError."""
    with pytest.raises(DecodeError):
        decoder_for("pods").decode_list(body)


def test_empty_list_with_null_items() -> None:
    """A List whose items is null or absent decodes to no items with the list version."""
    for body in (b'{"metadata": {"resourceVersion": "4"}, "items": null}', b'{"metadata": {}}'):
        page = decoder_for("pods").decode_list(body)
        assert page.items == ()
    assert (
        decoder_for("pods").decode_list(b'{"metadata": {"resourceVersion": "4"}}').resource_version
        == "4"
    )


def test_decoders_are_shared_per_resource() -> None:
    """decoder_for builds each resource's decoder once and hands the same one back."""
    assert decoder_for("pods") is decoder_for("pods")
    assert isinstance(decoder_for("events"), ResourceDecoder)
    assert decoder_for("events").snapshot_type is Event
    with pytest.raises(KeyError):
        decoder_for("widgets")
