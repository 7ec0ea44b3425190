"""Builds the exporter the configuration names (console, otlp over gRPC or HTTP, jsonl)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from tracewatch.core.spans import Attributes
from tracewatch.export.base import SpanExporter
from tracewatch.export.console import ConsoleExporter
from tracewatch.export.jsonl import JsonlExporter
from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter

__all__ = ["EXPORTER_KINDS", "OTLP_PROTOCOLS", "create_exporter"]

EXPORTER_KINDS = ("console", "otlp", "jsonl")
# "http/protobuf" is how OTEL_EXPORTER_OTLP_PROTOCOL spells the HTTP transport.
OTLP_PROTOCOLS = ("grpc", "http", "http/protobuf")
_DEFAULT_ENDPOINTS = {"grpc": "localhost:4317", "http": "http://localhost:4318"}


def create_exporter(
    *,
    kind: str,
    otlp_endpoint: str | None = None,
    otlp_protocol: str = "grpc",
    output: str | None = None,
    stream: TextIO | None = None,
    resource_attributes: Attributes = (),
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 10.0,
    compression: bool = False,
) -> SpanExporter:
    """The exporter for `kind`; ValueError with a one-line reason for a bad combination.

    console writes to `stream` (stdout by default); jsonl appends to the file
    `output` or writes to `stream` (exactly one; OSError if the file cannot be
    opened); otlp sends to `otlp_endpoint` (default localhost:4317 for grpc,
    http://localhost:4318 for http). Options another kind would use are ignored,
    so one configuration can switch exporters with a single flag.
    """
    if kind == "console":
        return ConsoleExporter(stream=stream)
    if kind == "jsonl":
        if output is None and stream is None:
            raise ValueError("the jsonl exporter needs an output file (--output)")
        if output is not None and stream is not None:
            raise ValueError("the jsonl exporter takes an output file or a stream, not both")
        if output is not None and not output.strip():
            raise ValueError("the jsonl exporter's output file name is empty")
        return JsonlExporter(path=output, stream=stream, resource_attributes=resource_attributes)
    if kind == "otlp":
        protocol = otlp_protocol.strip().lower()
        if protocol not in OTLP_PROTOCOLS:
            raise ValueError(f"unknown OTLP protocol {otlp_protocol!r}: expected grpc or http")
        if timeout_s <= 0:
            raise ValueError(f"the OTLP timeout must be positive, got {timeout_s}")
        if protocol == "grpc":
            return OtlpGrpcExporter(
                endpoint=otlp_endpoint or _DEFAULT_ENDPOINTS["grpc"],
                headers=headers,
                timeout_s=timeout_s,
                compression=compression,
                resource_attributes=resource_attributes,
            )
        return OtlpHttpExporter(
            endpoint=otlp_endpoint or _DEFAULT_ENDPOINTS["http"],
            headers=headers,
            timeout_s=timeout_s,
            compression=compression,
            resource_attributes=resource_attributes,
        )
    raise ValueError(f"unknown exporter {kind!r}: expected one of {', '.join(EXPORTER_KINDS)}")
