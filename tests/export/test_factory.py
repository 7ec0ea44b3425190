"""create_exporter: the right exporter per kind, and one-line errors for bad combinations."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tracewatch.export.base import ExportResult, SpanExporter
from tracewatch.export.console import ConsoleExporter
from tracewatch.export.factory import create_exporter
from tracewatch.export.jsonl import JsonlExporter
from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter

from ..receivers import HttpReceiver
from .builders import pod_startup


async def test_kinds_build_their_exporters(tmp_path: Path) -> None:
    """console, jsonl, otlp/grpc and otlp/http give the matching exporter classes."""
    console = create_exporter(kind="console")
    jsonl = create_exporter(kind="jsonl", output=str(tmp_path / "o.jsonl"))
    grpc_exporter = create_exporter(kind="otlp")
    http_exporter = create_exporter(kind="otlp", otlp_protocol="http")
    try:
        assert isinstance(console, ConsoleExporter)
        assert isinstance(jsonl, JsonlExporter)
        assert isinstance(grpc_exporter, OtlpGrpcExporter)
        assert grpc_exporter.endpoint == "localhost:4317"
        assert isinstance(http_exporter, OtlpHttpExporter)
        assert http_exporter.url == "http://localhost:4318/v1/traces"
        for exporter in (console, jsonl, grpc_exporter, http_exporter):
            assert isinstance(exporter, SpanExporter)
    finally:
        for exporter in (console, jsonl, grpc_exporter, http_exporter):
            await exporter.shutdown()


async def test_otlp_http_exporter_from_the_factory_delivers() -> None:
    """The factory's options (endpoint, headers, resource attributes) reach the wire."""
    async with HttpReceiver() as receiver:
        exporter = create_exporter(
            kind="otlp",
            otlp_protocol="http/protobuf",
            otlp_endpoint=receiver.endpoint,
            headers={"x-scope-orgid": "t1"},
            resource_attributes=(("k8s.cluster.name", "c"),),
        )
        try:
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
    assert receiver.headers[0]["x-scope-orgid"] == "t1"
    assert {s.resource["k8s.cluster.name"] for s in receiver.spans()} == {"c"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "jaeger"}, "unknown exporter 'jaeger'"),
        ({"kind": "jsonl"}, "needs an output file"),
        ({"kind": "jsonl", "output": "x", "stream": io.StringIO()}, "not both"),
        ({"kind": "jsonl", "output": " "}, "empty"),
        ({"kind": "otlp", "otlp_protocol": "thrift"}, "unknown OTLP protocol"),
        ({"kind": "otlp", "timeout_s": 0}, "must be positive"),
        ({"kind": "otlp", "otlp_endpoint": "udp://x:1"}, "scheme must be http or https"),
    ],
)
def test_bad_combinations_raise_one_clear_line(kwargs: dict, message: str) -> None:
    """Each mistake is a ValueError whose single-line message names it."""
    with pytest.raises(ValueError, match=message) as info:
        create_exporter(**kwargs)
    assert "\n" not in str(info.value)
