"""The capture line format: receipt times to the nanosecond, kinds to resources, bad lines."""

from __future__ import annotations

import io
from collections.abc import Callable

import orjson
import pytest

from tracewatch.capture import lines
from tracewatch.capture.lines import (
    CaptureLineError,
    format_observed_at,
    parse_capture_line,
    parse_observed_at,
)
from tracewatch.capture.recording import CaptureWriter
from tracewatch.core.observations import Change, Observation
from tracewatch.kube.decoding import decoder_for

from ..realdata import ABSENT, REALDATA, server_layout

POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-1",
        "resourceVersion": "42",
        "managedFields": [{"manager": "kubectl", "time": "2024-05-01T10:00:00Z"}],
    },
    "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "nginx:1.27"}]},
}


@pytest.mark.parametrize(
    "ns", [0, 1_714_557_600_000_000_001, 1_714_557_600_123_456_789, 4_102_444_799_999_999_999]
)
def test_receipt_time_round_trips_to_the_nanosecond(ns: int) -> None:
    """format_observed_at is RFC 3339 UTC with nine digits and parses back exactly."""
    text = format_observed_at(ns)
    assert text.endswith("Z") and len(text.split(".")[1]) == 10
    assert parse_observed_at(text) == ns


def test_offsets_and_short_fractions_are_understood() -> None:
    """Hand-written captures may use an offset or fewer digits; both mean the same instant."""
    assert parse_observed_at("2024-05-01T12:00:00.5+02:00") == parse_observed_at(
        "2024-05-01T10:00:00.500000000Z"
    )


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-05-01T10:00:00.123456789Z",
        "2024-05-01T10:00:00.000000000Z",
        "2024-05-01T12:00:00.123456789+02:00",
        "2024-05-01T10:00:00.5Z",
        "2024-05-01T10:00:00Z",
    ],
)
def test_recorded_line_gets_the_receipt_time_parse_observed_at_gives(stamp: str) -> None:
    """Whatever form observedAt takes, a recorded line carries exactly its parsed instant."""
    line = orjson.dumps({"observedAt": stamp, "type": "ADDED", "object": POD})
    for _ in range(2):  # the second parse of a second comes from the memo
        parsed = parse_capture_line(line)
        assert parsed.observation is not None
        assert parsed.observation.observed_at_ns == parse_observed_at(stamp)


def test_recorded_line_with_a_bad_fraction_is_refused() -> None:
    """Nine fraction characters that are not all digits are no receipt time, even in a
    second whose start is already known."""
    good, bad = "2024-05-01T10:00:00.123456789Z", "2024-05-01T10:00:00.12345678xZ"
    assert parse_capture_line(
        orjson.dumps({"observedAt": good, "type": "ADDED", "object": POD})
    ).observation
    with pytest.raises(CaptureLineError, match="RFC 3339"):
        parse_capture_line(orjson.dumps({"observedAt": bad, "type": "ADDED", "object": POD}))


def test_writer_adds_kind_to_list_items_and_keeps_the_object() -> None:
    """A list item (no kind/apiVersion) gets both; the rest of the object is kept whole."""
    out = io.BytesIO()
    writer = CaptureWriter(stream=out)
    item = {k: v for k, v in POD.items() if k not in ("kind", "apiVersion")}
    raw = orjson.dumps(item)
    snapshot = decoder_for("pods").decode_object(raw)
    writer.write(
        Observation(observed_at_ns=5, change=Change.ADDED, resource="pods", obj=snapshot), raw
    )
    record = orjson.loads(out.getvalue())
    assert record["object"] == POD
    assert record["type"] == "ADDED"
    assert parse_capture_line(out.getvalue()).observation is not None


def test_relisted_gone_is_recorded_as_deleted() -> None:
    """A deletion found by a relist is written as DELETED with the last object seen."""
    out = io.BytesIO()
    raw = orjson.dumps(POD)
    snapshot = decoder_for("pods").decode_object(raw)
    CaptureWriter(stream=out).write(
        Observation(observed_at_ns=7, change=Change.RELISTED_GONE, resource="pods", obj=snapshot),
        raw,
    )
    parsed = parse_capture_line(out.getvalue())
    assert parsed.observation is not None
    assert parsed.observation.change is Change.DELETED
    assert parsed.observation.obj == snapshot


def test_line_decodes_to_the_same_snapshot_as_a_watch_line() -> None:
    """The replayed snapshot equals what the informer decoded from the live watch line."""
    line = orjson.dumps({"observedAt": format_observed_at(9), "type": "MODIFIED", "object": POD})
    parsed = parse_capture_line(line)
    watch = decoder_for("pods").decode_line(orjson.dumps({"type": "MODIFIED", "object": POD}))
    assert parsed.observation is not None
    assert parsed.observation.obj == watch.obj
    assert parsed.observation.observed_at_ns == 9
    assert parsed.observation.resource == "pods"


def test_unwatched_kinds_are_not_errors() -> None:
    """A kind outside the resource table (or another API group's Event) is reported, not raised."""
    for kind, api_version in (("ConfigMap", "v1"), ("Event", "events.k8s.io/v1")):
        obj = {"kind": kind, "apiVersion": api_version, "metadata": {"uid": "x"}}
        line = orjson.dumps({"observedAt": format_observed_at(1), "type": "ADDED", "object": obj})
        parsed = parse_capture_line(line)
        assert parsed.observation is None and parsed.kind == kind


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (b"{not json", "not a capture record"),
        (b'{"type":"ADDED","object":{}}', "not a capture record"),
        (b'{"observedAt":"yesterday","type":"ADDED","object":{"kind":"Pod"}}', "RFC 3339"),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"BOOKMARK","object":{"kind":"Pod"}}',
            "BOOKMARK",
        ),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","metadata":{"name":3}}}',
            "Pod",
        ),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","metadata":{"name":"x"}}}',
            "uid",
        ),
    ],
)
def test_bad_lines_raise_one_clear_error(line: bytes, says: str) -> None:
    """Every kind of bad line raises CaptureLineError with a reason naming the problem."""
    with pytest.raises(CaptureLineError, match=says):
        parse_capture_line(line)


def _recorded(obj: dict[str, object], *, resource: str, ns: int = 11) -> bytes:
    """The line `tracewatch record` writes for an object received from a watch."""
    out = io.BytesIO()
    raw = orjson.dumps(obj)
    snapshot = decoder_for(resource).decode_object(raw)
    CaptureWriter(stream=out).write(
        Observation(observed_at_ns=ns, change=Change.MODIFIED, resource=resource, obj=snapshot),
        raw,
    )
    return out.getvalue()


REAL_PODS = sorted((REALDATA / "pod").glob("*.json")) if REALDATA.is_dir() else []


@pytest.mark.skipif(not REAL_PODS, reason=ABSENT)
def test_recorded_real_pods_take_one_pass_and_agree_with_the_general_decoding() -> None:
    """Every version of every recorded real pod, as `record` writes it, takes the one-pass
    path and decodes to exactly what the general three-pass decoding gives."""
    checked = 0
    for path in REAL_PODS:
        for version in orjson.loads(path.read_bytes()):
            line = _recorded(version, resource="pods", ns=1_714_557_600_123_456_789)
            assert lines._RECORDED_HEAD.match(line)
            assert parse_capture_line(line) == lines._parse_general(line)
            checked += 1
    assert checked >= len(REAL_PODS)


@pytest.mark.skipif(not REAL_PODS, reason=ABSENT)
def test_recorded_real_pods_with_managed_fields_agree_with_the_general_decoding() -> None:
    """Every recorded real pod version with managedFields, laid out as the API server writes
    it, reads the same on the one-pass path (first line of its second and after) as the
    general decoding, which decodes the object whole."""
    checked = 0
    for path in REAL_PODS:
        for version in orjson.loads(path.read_bytes()):
            obj = server_layout(version)
            assert b'"managedFields":[{' in orjson.dumps(obj)
            line = _recorded(obj, resource="pods", ns=1_714_557_600_223_456_789)
            for _ in range(2):
                assert parse_capture_line(line) == lines._parse_general(line)
            checked += 1
    assert checked >= len(REAL_PODS)


@pytest.mark.parametrize(
    ("line", "says"),
    [
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":3}}}',
            "Pod",
        ),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}}',
            "uid",
        ),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"',
            "Pod",
        ),
        (
            b'{"observedAt":"2024-05-01T10:00:00Z","type":"ERROR",'
            b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}}}',
            "ERROR",
        ),
        (
            b'{"observedAt":"noon","type":"ADDED",'
            b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}}}',
            "RFC 3339",
        ),
    ],
)
def test_bad_recorded_lines_raise_the_same_clear_errors(line: bytes, says: str) -> None:
    """A line with the recorded head but a bad body (wrong types, no uid, truncated, wrong
    type, bad time) is refused as clearly as on the general path."""
    assert lines._RECORDED_HEAD.match(line)
    with pytest.raises(CaptureLineError, match=says):
        parse_capture_line(line)


def test_recorded_line_of_another_api_group_is_skipped_not_misread() -> None:
    """An events.k8s.io Event with the recorded head is reported as an unwatched kind."""
    line = (b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Event","apiVersion":"events.k8s.io/v1","metadata":{"uid":"u"}}}')
    parsed = parse_capture_line(line)
    assert parsed.observation is None and parsed.kind == "Event"


def test_heads_are_remembered_within_a_bound() -> None:
    """Distinct heads (say, endless made-up apiVersions) never grow the head memo past its
    bound, and lines past it are still read correctly."""
    for n in range(lines._MAX_HEADS + 50):
        obj = {"kind": "Pod", "apiVersion": f"v{n}x", "metadata": {"uid": "u"}}
        line = orjson.dumps({"observedAt": format_observed_at(1), "type": "ADDED", "object": obj})
        assert parse_capture_line(line).observation is None  # not core/v1: not watched
    assert len(lines._heads) <= lines._MAX_HEADS
    assert parse_capture_line(_recorded(POD, resource="pods")).observation is not None


def test_a_head_naming_kind_twice_is_left_to_the_general_way() -> None:
    """A head with two `kind` keys is not guessed at: the general decoding decides."""
    line = (b'{"observedAt":"2024-05-01T10:00:00Z","type":"ADDED",'
            b'"object":{"kind":"Pod","kind":"Pod","metadata":{"uid":"u"}}}')
    assert parse_capture_line(line) == lines._parse_general(line)


def _outcome(parse: Callable[[bytes], object], line: bytes) -> tuple[str, object]:
    """What a parse gives for `line`: its result, or the text of the error it raises."""
    try:
        return "parsed", parse(line)
    except CaptureLineError as exc:
        return "refused", str(exc)


def test_a_remembered_second_and_head_give_each_line_its_own_time() -> None:
    """Lines after the first of a second and a head carry their own receipt time and object."""
    stamps = [1_714_557_600_000_000_000 + n for n in (5, 123_456_789, 999_999_999, 1_000_000_007)]
    for ns in stamps:
        line = orjson.dumps({"observedAt": format_observed_at(ns), "type": "MODIFIED",
                             "object": POD})
        for _ in range(2):
            assert parse_capture_line(line) == lines._parse_general(line)
            observation = parse_capture_line(line).observation
            assert observation is not None and observation.observed_at_ns == ns


def test_lines_like_a_remembered_one_read_as_the_regex_reads_them() -> None:
    """Any byte of a remembered line's time or head changed (a quote, a backslash, a sign, a
    space, another letter or digit) gives what reading it the regex way gives."""
    good = orjson.dumps({"observedAt": format_observed_at(1_714_557_600_123_456_789),
                         "type": "MODIFIED", "object": POD})
    assert parse_capture_line(good).observation is not None
    checked = 0
    for at in range(len(good.split(b'"metadata"')[0]) + 1):
        for byte in b'"\\+ .Z0x':
            line = good[:at] + bytes([byte]) + good[at + 1:]
            assert _outcome(parse_capture_line, line) == _outcome(lines._parse_recorded, line)
            checked += 1
    assert checked > 800


@pytest.mark.parametrize(
    "body",
    [
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":3}}}',
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}}',
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"',
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}},"type":"ERROR"}',
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}},"type":"BOOKMARK"}',
        b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}},"type":"DELETED"}',
    ],
)
def test_bad_bodies_after_a_remembered_head_read_as_the_regex_reads_them(body: bytes) -> None:
    """A bad body (or a second `type` key) after a second and a head already seen is refused,
    or read, exactly as the regex way does."""
    head = b'{"observedAt":"2024-05-01T10:00:07.%09dZ","type":"ADDED",'
    good = head % 1 + b'"object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"}}}'
    assert parse_capture_line(good).observation is not None
    line = head % 2 + body
    assert _outcome(parse_capture_line, line) == _outcome(lines._parse_recorded, line)


def test_heads_alike_up_to_the_key_are_told_apart() -> None:
    """PersistentVolume and PersistentVolumeClaim heads, which share their first bytes, each
    decode as their own kind, whichever came first."""
    for kind in ("PersistentVolume", "PersistentVolumeClaim") * 2:
        obj = {"kind": kind, "apiVersion": "v1", "metadata": {"uid": "u", "name": kind}}
        line = orjson.dumps({"observedAt": format_observed_at(3), "type": "MODIFIED",
                             "object": obj})
        parsed = parse_capture_line(line)
        assert parsed == lines._parse_general(line)
        assert parsed.kind == kind and parsed.observation is not None
        assert parsed.observation.resource == kind.lower() + "s"


def test_sorted_keys_lines_are_read_alike() -> None:
    """A line with apiVersion before kind (sorted JSON) reads, first time and after, as the
    general decoding reads it."""
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"uid": "u-9", "name": "w"}}
    line = orjson.dumps({"observedAt": format_observed_at(4), "type": "DELETED", "object": obj})
    for _ in range(2):
        assert parse_capture_line(line) == lines._parse_general(line)
