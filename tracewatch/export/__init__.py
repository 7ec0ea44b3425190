"""Export: span records out as OTLP (gRPC, HTTP), OTLP/JSON lines, or a console tree."""

from tracewatch.export.base import ExportResult, SpanExporter
from tracewatch.export.console import ConsoleExporter, format_traces
from tracewatch.export.encoding import encode_json, encode_request, encode_request_bytes
from tracewatch.export.factory import create_exporter
from tracewatch.export.jsonl import JsonlExporter
from tracewatch.export.otlp_grpc import OtlpGrpcExporter
from tracewatch.export.otlp_http import OtlpHttpExporter

__all__ = [
    "ConsoleExporter",
    "ExportResult",
    "JsonlExporter",
    "OtlpGrpcExporter",
    "OtlpHttpExporter",
    "SpanExporter",
    "create_exporter",
    "encode_json",
    "encode_request",
    "encode_request_bytes",
    "format_traces",
]
