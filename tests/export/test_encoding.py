"""OTLP protobuf encoding: span records -> ExportTraceServiceRequest, field by field."""

from __future__ import annotations

import math

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

import tracewatch
from tracewatch.core.spans import SpanEvent, SpanLink, SpanRecord, StatusCode
from tracewatch.export.encoding import encode_request, encode_request_bytes

from ..receivers import flatten
from .builders import MS, OTHER_TRACE, T0, TRACE, pod_startup, sid, span


def test_round_trip_keeps_ids_names_times_and_parentage() -> None:
    """Every span comes back with its ids, parent, name, service and nanosecond times."""
    records = pod_startup()
    received = {s.span_id: s for s in flatten([encode_request(records)])}
    assert len(received) == len(records)
    for record in records:
        got = received[record.span_id.hex()]
        assert got.trace_id == record.trace_id.hex()
        assert got.parent_span_id == record.parent_span_id.hex()
        assert (got.name, got.service) == (record.name, record.service)
        assert (got.start_ns, got.end_ns) == (record.start_ns, record.end_ns)
        assert got.attributes == dict(record.attributes)
        assert got.kind == trace_pb2.Span.SPAN_KIND_INTERNAL


def test_one_resource_per_service_with_resource_attributes() -> None:
    """Spans are grouped per service, in first-seen order, each resource naming its service."""
    request = encode_request(pod_startup(), resource_attributes=(("k8s.cluster.name", "prod-eu"),))
    services = []
    for resource_spans in request.resource_spans:
        attrs = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
        assert attrs["k8s.cluster.name"] == "prod-eu"
        services.append(attrs["service.name"])
        assert len(resource_spans.scope_spans) == 1
        names = {s.name for s in resource_spans.scope_spans[0].spans}
        assert names
    assert services == ["kube-scheduler", "kubelet", "kubernetes"]


def test_service_name_in_resource_attributes_cannot_override_the_span_service() -> None:
    """A service.name among the resource attributes is dropped in favour of span.service."""
    request = encode_request(
        [span("a", span_id=1, service="kubelet")],
        resource_attributes=(("service.name", "tracewatch"), ("team", "sre")),
    )
    attrs = [
        (kv.key, kv.value.string_value) for kv in request.resource_spans[0].resource.attributes
    ]
    assert attrs == [("service.name", "kubelet"), ("team", "sre")]


def test_scope_is_tracewatch_with_package_version() -> None:
    """The instrumentation scope names tracewatch and its version."""
    scope = encode_request(pod_startup()).resource_spans[0].scope_spans[0].scope
    assert (scope.name, scope.version) == ("tracewatch", tracewatch.__version__)


def test_attribute_value_types_map_to_anyvalue_variants() -> None:
    """str, bool, int, float and tuple[str] become string, bool, int, double and array values."""
    attrs = (
        ("s", "x"),
        ("t", True),
        ("f", False),
        ("i", 1),
        ("zero", 0),
        ("neg", -5),
        ("d", 1.0),
        ("nan", math.nan),
        ("arr", ("a", "b")),
        ("empty", ()),
        ("big", 1 << 70),
    )
    proto = encode_request([span("a", span_id=1, attributes=attrs)])
    kvs = {kv.key: kv.value for kv in proto.resource_spans[0].scope_spans[0].spans[0].attributes}
    which = {k: v.WhichOneof("value") for k, v in kvs.items()}
    assert which == {
        "s": "string_value",
        "t": "bool_value",
        "f": "bool_value",
        "i": "int_value",
        "zero": "int_value",
        "neg": "int_value",
        "d": "double_value",
        "nan": "double_value",
        "arr": "array_value",
        "empty": "array_value",
        "big": "string_value",
    }
    assert kvs["t"].bool_value is True and kvs["f"].bool_value is False
    assert (kvs["i"].int_value, kvs["neg"].int_value, kvs["d"].double_value) == (1, -5, 1.0)
    assert math.isnan(kvs["nan"].double_value)
    assert [v.string_value for v in kvs["arr"].array_value.values] == ["a", "b"]
    assert kvs["big"].string_value == str(1 << 70)


def test_equal_values_of_different_types_do_not_share_cached_encodings() -> None:
    """True, 1 and 1.0 compare equal in Python but stay bool, int and double on the wire."""
    batch = [
        span("a", span_id=1, attributes=(("k", True),)),
        span("b", span_id=2, attributes=(("k", 1),)),
        span("c", span_id=3, attributes=(("k", 1.0),)),
    ]
    spans = encode_request(batch).resource_spans[0].scope_spans[0].spans
    kinds = [s.attributes[0].value.WhichOneof("value") for s in spans]
    assert kinds == ["bool_value", "int_value", "double_value"]


def test_one_attribute_pair_decodes_alike_on_spans_events_links_and_resources() -> None:
    """A pair cached for one field (span attributes) is not mistaken for another's."""
    pair = ("k8s.pod.name", "web-1")
    record = span(
        "a",
        span_id=1,
        attributes=(pair, ("n", 2)),
        events=(SpanEvent(time_ns=T0, name="e", attributes=(pair, ("n", 2))),),
        links=(SpanLink(trace_id=OTHER_TRACE, span_id=sid(9), attributes=(pair, ("n", 2))),),
    )
    for _ in range(2):  # the second time from the caches
        request = encode_request([record], resource_attributes=(pair, ("n", 2)))
        (got,) = flatten([request])
        expected = {"k8s.pod.name": "web-1", "n": 2}
        assert got.attributes == expected
        assert got.events[0].attributes == expected
        assert got.links[0].attributes == expected
        resource = request.resource_spans[0].resource.attributes
        assert [(kv.key, kv.value.WhichOneof("value")) for kv in resource] == [
            ("service.name", "string_value"),
            ("k8s.pod.name", "string_value"),
            ("n", "int_value"),
        ]


def test_events_links_and_status_are_encoded() -> None:
    """Span events, links (with attributes) and an error status survive the encoding."""
    record = span(
        "scheduler.SchedulePod",
        span_id=2,
        parent=1,
        events=(SpanEvent(time_ns=T0 + 5 * MS, name="FailedScheduling", attributes=(("n", 3),)),),
        links=(SpanLink(trace_id=OTHER_TRACE, span_id=sid(9), attributes=(("why", "pvc"),)),),
        status=StatusCode.ERROR,
        status_message="0/3 nodes are available",
    )
    (got,) = flatten([encode_request([record])])
    assert [(e.time_ns, e.name, e.attributes) for e in got.events] == [
        (T0 + 5 * MS, "FailedScheduling", {"n": 3})
    ]
    assert [(lk.trace_id, lk.span_id, lk.attributes) for lk in got.links] == [
        (OTHER_TRACE.hex(), sid(9).hex(), {"why": "pvc"})
    ]
    assert (got.status_code, got.status_message) == (2, "0/3 nodes are available")


def test_unset_status_is_left_out() -> None:
    """A span with no status carries no Status message at all."""
    proto = encode_request([span("a", span_id=1)])
    assert not proto.resource_spans[0].scope_spans[0].spans[0].HasField("status")


def test_bytes_are_exactly_the_serialized_request() -> None:
    """The fast bytes path parses, and re-serializes, as the message encode_request returns."""
    records = pod_startup() + pod_startup(OTHER_TRACE, offset_ms=100)
    raw = encode_request_bytes(records)
    message = ExportTraceServiceRequest.FromString(raw)
    assert message == encode_request(records)
    assert ExportTraceServiceRequest.FromString(message.SerializeToString()) == message


def test_empty_batch_is_an_empty_request() -> None:
    """No spans make an empty request, not an empty resource."""
    assert encode_request_bytes([]) == b""
    assert len(encode_request([]).resource_spans) == 0


def test_same_spans_always_give_the_same_bytes() -> None:
    """Encoding is deterministic (replays diff cleanly)."""
    assert encode_request_bytes(pod_startup()) == encode_request_bytes(pod_startup())


def test_trace_ids_of_every_span_kept_per_batch() -> None:
    """Spans of two traces in one batch keep their own trace ids."""
    got = flatten([encode_request(pod_startup() + pod_startup(OTHER_TRACE))])
    assert {s.trace_id for s in got} == {TRACE.hex(), OTHER_TRACE.hex()}


def test_ids_of_unusual_lengths_keep_their_exact_bytes() -> None:
    """Ids that are not 16/8 bytes are written with their own lengths, never padded or cut."""
    odd = span("odd", span_id=1)
    odd = SpanRecord(
        trace_id=TRACE[:12],
        span_id=b"\x07" * 5,
        parent_span_id=b"\x09" * 10,
        name=odd.name,
        service=odd.service,
        start_ns=odd.start_ns,
        end_ns=odd.end_ns,
    )
    (got,) = encode_request([odd]).resource_spans[0].scope_spans[0].spans
    assert (got.trace_id, got.span_id, got.parent_span_id) == (
        TRACE[:12],
        b"\x07" * 5,
        b"\x09" * 10,
    )


def test_a_span_over_16_kib_keeps_its_length_prefix_right() -> None:
    """A span whose bytes need a 3-byte length still parses, with every field intact."""
    big = "x" * 20_000
    records = [span("big", span_id=1, attributes=(("note", big),)), span("after", span_id=2)]
    got = encode_request(records).resource_spans[0].scope_spans[0].spans
    assert [s.name for s in got] == ["big", "after"]
    assert got[0].attributes[0].value.string_value == big
