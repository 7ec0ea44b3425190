"""Damaged bytes: a capture or watch line that is not what it should be fails in one known way.

A capture file can be truncated, edited or corrupted; a proxy can mangle a watch stream.
Whatever the damage (a byte changed, bytes cut out or added, the line cut short), the
capture parser either reads the line or raises CaptureLineError, and a resource's watch
decoder either reads it or raises DecodeError: never another exception, which would stop
a replay or an informer instead of skipping one line.
"""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.capture.lines import CaptureLineError, parse_capture_line
from tracewatch.kube.decoding import SNAPSHOT_TYPES, DecodeError, WatchLine, decoder_for

from ..realdata import server_layout
from .test_capture_lines import POD, _recorded

_EVENT = {
    "kind": "Event",
    "apiVersion": "v1",
    "metadata": {"name": "web.17979cfe4b15d5c0", "namespace": "shop", "uid": "e-1",
                 "resourceVersion": "43"},
    "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web", "uid": "u-1",
                       "fieldPath": "spec.containers{app}"},
    "reason": "Pulled",
    "message": 'Successfully pulled image "nginx:1.27"',
    "firstTimestamp": "2024-05-01T10:00:01Z",
    "lastTimestamp": "2024-05-01T10:00:01Z",
    "count": 1,
    "type": "Normal",
}
_POD = server_layout(
    {**POD, "metadata": {**POD["metadata"], "creationTimestamp": "2024-05-01T10:00:00Z"},
     "status": {"phase": "Running", "conditions": [
         {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:02Z"}]}}
)
# (resource, object): each becomes a capture line and a watch line.
OBJECTS = (("pods", _POD), ("events", _EVENT))
CAPTURE_LINES = [_recorded(obj, resource=resource, ns=1_714_557_600_123_456_789)
                 for resource, obj in OBJECTS]
WATCH_LINES = [(resource, orjson.dumps({"type": "MODIFIED", "object": obj}))
               for resource, obj in OBJECTS]
LIST_BODIES = [(resource, orjson.dumps({"kind": "List", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": "44"},
                                        "items": [obj, obj]}))
               for resource, obj in OBJECTS]


@st.composite
def damaged(draw: st.DrawFn, line: bytes) -> bytes:
    """`line` with one to three of: a byte replaced, a range cut out, bytes put in, cut short."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(line) - 1)))
        how = draw(st.sampled_from(("replace", "cut", "insert", "truncate")))
        if how == "replace":
            line = line[:at] + bytes([draw(st.integers(0, 255))]) + line[at + 1:]
        elif how == "cut":
            line = line[:at] + line[at + draw(st.integers(1, 64)):]
        elif how == "insert":
            noise = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b'"', b"\\", b"{", b"}", b"[", b"]", b",", b":", b"\n", b"\xff", b"null"]))
            line = line[:at] + noise + line[at:]
        else:
            line = line[:at]
    return line


def damaged_cases(cases: list[tuple[str, bytes]]) -> st.SearchStrategy[tuple[str, bytes]]:
    """One of the (resource, bytes) cases, its bytes damaged."""
    return st.sampled_from(cases).flatmap(
        lambda case: st.tuples(st.just(case[0]), damaged(case[1])))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CAPTURE_LINES).flatmap(damaged))
def test_a_damaged_capture_line_is_read_or_refused(line: bytes) -> None:
    """parse_capture_line on damaged bytes: a result, or CaptureLineError; twice the same."""
    outcomes = []
    for _ in range(2):  # the second time through the fast path's remembered heads and seconds
        try:
            outcomes.append(parse_capture_line(line))
        except CaptureLineError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=400, deadline=None)
@given(damaged_cases(WATCH_LINES))
def test_a_damaged_watch_line_is_read_or_refused(case: tuple[str, bytes]) -> None:
    """A resource's watch decoder on damaged bytes: a WatchLine, or DecodeError."""
    resource, line = case
    try:
        got = decoder_for(resource).decode_line(line)
    except DecodeError as exc:
        assert str(exc)  # it says why
    else:
        assert isinstance(got, WatchLine)


@settings(max_examples=300, deadline=None)
@given(damaged_cases(LIST_BODIES))
def test_a_damaged_list_body_is_read_or_refused(case: tuple[str, bytes]) -> None:
    """A resource's List decoder on damaged bytes: a page (bad items counted), or DecodeError."""
    resource, body = case
    try:
        page = decoder_for(resource).decode_list(body)
    except DecodeError as exc:
        assert str(exc)
    else:
        assert all(isinstance(item, SNAPSHOT_TYPES[resource]) for item in page.items)


def test_the_undamaged_lines_are_read() -> None:
    """The baseline the damage is applied to decodes, as a capture line and as a watch line."""
    for line in CAPTURE_LINES:
        assert parse_capture_line(line).observation is not None
    for resource, line in WATCH_LINES:
        assert decoder_for(resource).decode_line(line).obj is not None
    for resource, body in LIST_BODIES:
        assert len(decoder_for(resource).decode_list(body).items) == 2


def test_bytes_that_are_not_utf8_are_refused_with_the_known_errors() -> None:
    """msgspec lets UnicodeDecodeError through for a string that is not UTF-8; the decoders
    turn it into their own error (the cases the property tests first found)."""
    resource, watch = WATCH_LINES[0]
    broken = watch.replace(b'"namespace":"shop"', b'"namespace":"\x80hop"', 1)
    try:
        decoder_for(resource).decode_line(broken)
    except DecodeError as exc:
        assert "malformed watch line" in str(exc)
    else:
        raise AssertionError("a watch line that is not UTF-8 decoded")
    capture = CAPTURE_LINES[0]
    for damaged_line in (
        capture.replace(b'"observedAt":"', b'"observedAt":"\x80', 1),
        capture.replace(b'"namespace":"shop"', b'"namespace":"\x80hop"', 1),
    ):
        for _ in range(2):  # the regex way, then the remembered heads and seconds
            try:
                parse_capture_line(damaged_line)
            except CaptureLineError:
                continue
            raise AssertionError(f"read {damaged_line[:40]!r}")
