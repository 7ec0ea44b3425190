"""OTLP/JSON encoding: the protobuf JSON mapping with OTLP's deviations (hex ids, int enums)."""

from __future__ import annotations

import base64
import math
from typing import Any

import orjson
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import tracewatch
from tracewatch.core.spans import SpanEvent, SpanLink, StatusCode
from tracewatch.export.encoding import encode_json, encode_request

from .builders import MS, OTHER_TRACE, T0, TRACE, pod_startup, sid, span

_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _ids(node: Any, convert: Any) -> Any:
    """Apply `convert` to every traceId/spanId/parentSpanId value in a JSON tree."""
    if isinstance(node, dict):
        return {k: convert(v) if k in _ID_KEYS else _ids(v, convert) for k, v in node.items()}
    if isinstance(node, list):
        return [_ids(v, convert) for v in node]
    return node


def _rich_batch() -> list:
    return [
        *pod_startup(),
        span(
            "scheduler.SchedulePod",
            span_id=7,
            parent=6,
            trace_id=OTHER_TRACE,
            service="kube-scheduler",
            attributes=(("n", 3), ("ok", False), ("ratio", 0.5), ("inf", math.inf), ("a", ("x",))),
            events=(SpanEvent(time_ns=T0 + MS, name="FailedScheduling", attributes=(("n", 1),)),),
            links=(SpanLink(trace_id=TRACE, span_id=sid(1)),),
            status=StatusCode.ERROR,
            status_message="unschedulable",
        ),
    ]


def test_json_equals_the_protobuf_json_mapping_with_hex_ids() -> None:
    """encode_json is json_format's mapping of the same request, ids re-spelled as hex."""
    batch = _rich_batch()
    ours = orjson.loads(encode_json(batch, resource_attributes=(("k8s.cluster.name", "c1"),)))
    reference = json_format.MessageToDict(
        encode_request(batch, resource_attributes=(("k8s.cluster.name", "c1"),)),
        use_integers_for_enums=True,
    )
    assert ours == _ids(reference, lambda b64: base64.b64decode(b64).hex())


def test_json_decodes_back_to_the_same_request() -> None:
    """Converting the hex ids to base64 lets json_format parse the line into the same message."""
    batch = _rich_batch()
    parsed = json_format.ParseDict(
        _ids(
            orjson.loads(encode_json(batch)), lambda h: base64.b64encode(bytes.fromhex(h)).decode()
        ),
        ExportTraceServiceRequest(),
    )
    assert parsed == encode_request(batch)


def test_json_span_shape_follows_the_otlp_spec() -> None:
    """Hand-checked: camelCase keys, lowercase hex ids, kind 1, nanos and ints as strings."""
    record = span(
        "kubelet.StartPod",
        span_id=3,
        parent=1,
        start_ms=20,
        end_ms=3210,
        attributes=(("k8s.pod.name", "web-1"), ("restarts", 2), ("ready", True)),
        status=StatusCode.ERROR,
        status_message="boom",
    )
    doc = orjson.loads(encode_json([record]))
    (resource_spans,) = doc["resourceSpans"]
    assert resource_spans["resource"] == {
        "attributes": [{"key": "service.name", "value": {"stringValue": "kubelet"}}]
    }
    (scope_spans,) = resource_spans["scopeSpans"]
    assert scope_spans["scope"] == {"name": "tracewatch", "version": tracewatch.__version__}
    assert scope_spans["spans"] == [
        {
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "spanId": "0000000000000003",
            "parentSpanId": "0000000000000001",
            "name": "kubelet.StartPod",
            "kind": 1,
            "startTimeUnixNano": str(T0 + 20 * MS),
            "endTimeUnixNano": str(T0 + 3210 * MS),
            "attributes": [
                {"key": "k8s.pod.name", "value": {"stringValue": "web-1"}},
                {"key": "restarts", "value": {"intValue": "2"}},
                {"key": "ready", "value": {"boolValue": True}},
            ],
            "status": {"message": "boom", "code": 2},
        }
    ]


def test_root_span_has_no_parent_key_and_no_status_key() -> None:
    """Default values (empty parent, unset status) are omitted, as the JSON mapping does."""
    doc = orjson.loads(encode_json([span("k8s.CreatePod", span_id=1)]))
    (only,) = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert "parentSpanId" not in only and "status" not in only


def test_json_is_one_line_without_trailing_newline() -> None:
    """The encoding is a single line, ready for JSONL, with no trailing newline."""
    raw = encode_json(_rich_batch())
    assert b"\n" not in raw
    assert raw.endswith(b"}")


def test_non_finite_doubles_are_spelled_as_json_strings() -> None:
    """NaN and infinities use the proto3 JSON spellings rather than invalid JSON or null."""
    doc = orjson.loads(
        encode_json([span("a", span_id=1, attributes=(("n", math.nan), ("i", -math.inf)))])
    )
    attrs = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    assert [a["value"] for a in attrs] == [{"doubleValue": "NaN"}, {"doubleValue": "-Infinity"}]
