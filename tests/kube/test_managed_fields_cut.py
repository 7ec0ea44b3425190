"""Decoding with managedFields cut out first: the same result as the full decode, always."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.kube import decoding
from tracewatch.kube.decoding import SNAPSHOT_TYPES, decoder_for

from ..realdata import ABSENT, REALDATA, server_layout

REAL_FILES = sorted(REALDATA.glob("*/*.json")) if REALDATA.is_dir() else []
RESOURCES = {"pod": "pods", "job": "jobs"}

def watch_line(obj: object, *, option: int = 0) -> bytes:
    return orjson.dumps({"type": "MODIFIED", "object": obj}, option=option)


def outcome(decode: Callable[[bytes], object], line: bytes) -> tuple[str, object]:
    """What a decode gives for `line`: its result, or the type and text of its error."""
    try:
        return "decoded", decode(line)
    except msgspec.MsgspecError as exc:
        return type(exc).__name__, str(exc)


def cut_and_full(line: bytes, *, resource: str = "pods") -> tuple[object, object, bool]:
    """The cutting decode's outcome, the full decode's, and whether the cut line decoded."""
    full = decoder_for(resource).envelope_decoder.decode
    seen: list[bytes] = []

    def spy(data: bytes) -> object:
        seen.append(data)
        return full(data)

    cut = decoding._without_managed_fields(spy, b"spec")
    got = outcome(cut, line)
    return got, outcome(full, line), seen[-1] != line


@pytest.mark.skipif(not REAL_FILES, reason=ABSENT)
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_real_objects_decode_alike_cut_or_whole(path: Path) -> None:
    """Every recorded object, laid out as the API server writes it, decodes to exactly the
    full decode's result, with its managedFields cut out for pods and read for jobs."""
    resource = RESOURCES[path.parent.name]
    decoder = decoder_for(resource)
    for obj in json.loads(path.read_bytes()):
        line = watch_line(server_layout(obj))
        envelope = decoder.decode_envelope(line)
        assert envelope == decoder.envelope_decoder.decode(line)
        assert decoder.decode_line(line).obj == envelope.object
        assert envelope.object.metadata.uid == obj["metadata"]["uid"]
        if resource == "pods":
            got, full, cut = cut_and_full(line)
            assert cut and got == full
        else:
            assert len(envelope.object.metadata.managed_fields) == 2


@pytest.mark.skipif(not REAL_FILES, reason=ABSENT)
@pytest.mark.parametrize("option", [orjson.OPT_SORT_KEYS, orjson.OPT_INDENT_2])
def test_real_pods_in_other_layouts_are_decoded_whole(option: int) -> None:
    """Sorted keys (metadata ends with uid) or indented JSON do not fit the cut: decoded whole."""
    for path in (p for p in REAL_FILES if p.parent.name == "pod"):
        for obj in json.loads(path.read_bytes()):
            got, full, cut = cut_and_full(watch_line(server_layout(obj), option=option))
            assert not cut and got == full and got[0] == "decoded"


def test_kinds_that_read_managed_fields_are_never_cut() -> None:
    """Kinds whose snapshot declares managedFields decode every line whole; the others cut."""
    for resource, snapshot_type in SNAPSHOT_TYPES.items():
        decoder = decoder_for(resource)
        fields = {field.name: field.type for field in msgspec.structs.fields(snapshot_type)}
        meta = fields["metadata"]
        plain = decoder.decode_envelope == decoder.envelope_decoder.decode
        if "managed_fields" in meta.__struct_fields__:
            assert plain, resource
        assert plain == (snapshot_type not in decoding._KEY_AFTER_METADATA), resource


POD_HEAD = b'{"type":"ADDED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"uid":"u"'
ENTRY = b'{"manager":"m","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{".":{}}}}'
SPEC = b'"spec":{"nodeName":"real"}}}'


@pytest.mark.parametrize(
    ("line", "cuts"),
    [
        (POD_HEAD + b',"managedFields":[' + ENTRY + b"]}," + SPEC, True),
        (POD_HEAD + b',"managedFields":[]},' + SPEC, True),
        # managedFields not last, or twice
        (POD_HEAD + b',"managedFields":[' + ENTRY + b'],"name":"n"},' + SPEC, False),
        (POD_HEAD + b',"managedFields":[' + ENTRY + b'],"managedFields":[]},' + SPEC, False),
        # a later array-valued key ends metadata (sorted JSON)
        (POD_HEAD + b',"managedFields":[],"ownerReferences":[{"uid":"o"}]},' + SPEC, False),
        # whitespace
        (POD_HEAD + b', "managedFields": [' + ENTRY + b"]}, " + SPEC, False),
        (POD_HEAD + b',"managedFields":[' + ENTRY + b"] }," + SPEC, False),
        (POD_HEAD + b',"managedFields":[ ' + ENTRY + b" ]}," + SPEC, True),
        # a `]` inside a string of the array
        (POD_HEAD + b',"managedFields":[{"k:{\\"a]\\"}":{}}]},' + SPEC, False),
        # the patterns inside strings (quotes there are escaped)
        (POD_HEAD + b',"name":",\\"managedFields\\":[]},\\"spec\\":{\\"nodeName\\":\\"x\\"}"},'
         + SPEC, False),
        # an array nested in the array, closing before it: the cut line is unbalanced
        (POD_HEAD + b',"managedFields":[{"a":{"x":[]},"spec":{"nodeName":"evil"}}]},' + SPEC,
         False),
        # managedFields in another object first: cut from there, same result
        (POD_HEAD + b',"x":{"a":1,"managedFields":[]},"spec":{"nodeName":"evil"}},' + SPEC, True),
        # bad lines: the full decode's error
        (POD_HEAD + b',"managedFields":[' + ENTRY + b']},"spec":{"nodeName":3}}}', False),
        (POD_HEAD + b',"managedFields":[' + ENTRY + b']},"spec":{"nodeName":"real"', False),
        (b'{"type":"ADDED","object":{"kind":"Pod","metadata":{"uid":"u"}},'
         b'"managedFields":[]},"spec":{}}', False),
    ],
)
def test_layouts_that_do_not_fit_the_cut_decode_whole(line: bytes, cuts: bool) -> None:
    """Each adversarial layout gives exactly the full decode's result or error, and only
    lines where the cut is exact are decoded cut."""
    got, full, cut = cut_and_full(line)
    assert got == full
    assert cut == cuts


_TRICKY = st.sampled_from(["", "]", "[", "{", "}", ",", ":", '"', "\\", " ", "managedFields",
                           "spec", ',"managedFields":[', ']},"spec":', "\u00e9"])
_TEXTS = st.lists(_TRICKY | st.text(st.characters(codec="utf-8"), max_size=2),
                  max_size=4).map("".join)
_KEYS = st.sampled_from(["managedFields", "spec", "name", "uid", "fieldsV1", "x"]) | _TEXTS


class _Obj(list[tuple[str, Any]]):
    """A JSON object as its members in order (keys may repeat)."""


def _values(leaf: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaf,
        lambda inner: st.lists(inner, max_size=3)
        | st.lists(st.tuples(_KEYS, inner), max_size=3).map(_Obj),
        max_leaves=10,
    )


def _dump(value: Any, space: str) -> str:
    """Compact JSON (or with `space` after separators), objects in member order."""
    if isinstance(value, _Obj):
        members = (f"{json.dumps(k)}:{space}{_dump(v, space)}" for k, v in value)
        return "{" + f",{space}".join(members) + "}"
    if isinstance(value, list):
        return "[" + f",{space}".join(_dump(v, space) for v in value) + "]"
    return json.dumps(value)


@st.composite
def pod_lines(draw: st.DrawFn) -> bytes:
    """Pod watch lines around the API server's layout: metadata members shuffled or not,
    managedFields absent, once or twice, server-like (objects only) or any JSON, extra
    members anywhere, whitespace, truncation. Annotations (the one map the schema holds)
    hold strings, as the server writes them."""
    fields_v1 = st.recursive(st.just(_Obj()),
                             lambda inner: st.lists(st.tuples(_KEYS, inner), max_size=3).map(_Obj),
                             max_leaves=8)
    entry = st.tuples(st.just("fieldsV1"), fields_v1).map(lambda m: _Obj([("manager", "m"), m]))
    managed = st.lists(entry, max_size=2) | _values(st.none() | st.integers() | _TEXTS)
    any_json = _values(st.none() | st.booleans() | st.integers() | _TEXTS)
    meta = [("name", draw(_TEXTS)), ("uid", draw(st.sampled_from(["u", ""]))),
            ("annotations", _Obj(draw(st.lists(st.tuples(_TEXTS, _TEXTS), max_size=2))))]
    meta += draw(st.lists(st.tuples(_KEYS.filter(lambda k: k != "annotations"), any_json),
                          max_size=1))
    if draw(st.booleans()):
        meta = list(draw(st.permutations(meta)))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
        last = draw(st.integers(0, 3)) > 0
        at = len(meta) if last else draw(st.integers(0, len(meta)))
        meta.insert(at, ("managedFields", draw(managed)))
    container = _Obj([("name", "c"), ("image", draw(_TEXTS))])
    if draw(st.booleans()):
        container.append(("managedFields", draw(managed)))
    node = draw(st.integers()) if draw(st.integers(0, 9)) == 0 else draw(_TEXTS)
    spec = _Obj([("nodeName", node), ("containers", [container])])
    obj = [("kind", "Pod"), ("apiVersion", "v1"), ("metadata", _Obj(meta)), ("spec", spec),
           ("status", _Obj([("phase", draw(_TEXTS))]))]
    obj += draw(st.lists(st.tuples(_KEYS, any_json), max_size=1))
    space = " " if draw(st.integers(0, 4)) == 0 else ""
    line = _dump(_Obj([("type", "ADDED"), ("object", _Obj(obj))]), space).encode()
    if draw(st.integers(0, 9)) == 0:
        line = line[: draw(st.integers(0, len(line)))]
    return line


@settings(max_examples=300, deadline=None)
@given(pod_lines())
def test_any_layout_decodes_as_the_full_decode(line: bytes) -> None:
    """Whatever the layout around managedFields, the cutting decode gives exactly the full
    decode's result or error."""
    got, full, _ = cut_and_full(line)
    assert got == full
