"""OTLP/gRPC exporter on grpc.aio: one channel, one unary Export call per batch.

The request goes out as the bytes `encode_request_bytes` writes, through the
TraceService/Export method with an identity serializer: the wire is the same
as `TraceServiceStub.Export` sends, without building and re-serializing the
message. Errors are classified with the OTLP/gRPC table
(opentelemetry-proto docs/specification.md, "Failures").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
import grpc.aio
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracewatch.core.spans import Attributes, SpanRecord
from tracewatch.export._otlp import DEFAULT_GRPC_PORT, check_partial_success, log, parse_endpoint
from tracewatch.export.base import ExportResult
from tracewatch.export.encoding import encode_request_bytes

__all__ = ["EXPORT_METHOD", "OtlpGrpcExporter", "classify_status"]

EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

_RETRYABLE = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def classify_status(code: grpc.StatusCode, *, retry_info: bool) -> ExportResult:
    """The OTLP spec's verdict on a gRPC status: RESOURCE_EXHAUSTED only with RetryInfo."""
    if code is grpc.StatusCode.OK:
        return ExportResult.SUCCESS
    if code in _RETRYABLE or (code is grpc.StatusCode.RESOURCE_EXHAUSTED and retry_info):
        return ExportResult.RETRYABLE_FAILURE
    return ExportResult.FAILURE


def _retry_delay(metadata: object) -> float | None:
    """The RetryInfo delay (seconds) carried in the status details, if the server sent one."""
    if not metadata:
        return None
    for key, value in metadata:  # type: ignore[attr-defined]
        if key != _STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(value)
        except Exception:  # a malformed trailer must not break classification
            return None
        for detail in status.details:
            info = error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


# gRPC's own reconnect backoff grows to 120 s; after a backend outage that would delay the
# export queue's retries long after the backend is back. Keep reconnects brisk.
_CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5000),
)

class OtlpGrpcExporter:
    """Sends span batches to an OTLP/gRPC endpoint (`host:port`, `http://…` or `https://…`).

    TLS is used when the scheme is https or `tls=True`; otherwise the channel is
    plaintext. `retry_after_s` holds the server's RetryInfo hint from the last
    retryable failure (None when it gave none), for the caller's backoff.
    """

    def __init__(
        self,
        *,
        endpoint: str = f"localhost:{DEFAULT_GRPC_PORT}",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        compression: bool = False,
        tls: bool | None = None,
        ca_file: str | Path | None = None,
        resource_attributes: Attributes = (),
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"OTLP timeout must be positive, got {timeout_s}")
        parsed = parse_endpoint(endpoint, default_port=DEFAULT_GRPC_PORT)
        self._target = parsed.authority
        self._tls = (parsed.scheme == "https") if tls is None else tls
        if parsed.scheme == "http" and self._tls:
            raise ValueError(f"OTLP endpoint {endpoint!r} is http:// but TLS was requested")
        self._ca = Path(ca_file).read_bytes() if ca_file is not None else None
        # gRPC metadata keys must be lowercase ASCII.
        self._metadata = tuple((k.lower(), v) for k, v in (headers or {}).items())
        self._timeout_s = timeout_s
        self._compression = grpc.Compression.Gzip if compression else grpc.Compression.NoCompression
        self._resource_attributes = resource_attributes
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.UnaryUnaryMultiCallable | None = None
        self._closed = False
        self.retry_after_s: float | None = None

    @property
    def endpoint(self) -> str:
        return self._target

    def _open(self) -> grpc.aio.UnaryUnaryMultiCallable:
        # grpc.aio channels bind to the running loop, so they are created on first use.
        if self._tls:
            credentials = grpc.ssl_channel_credentials(root_certificates=self._ca)
            channel = grpc.aio.secure_channel(
                self._target, credentials, compression=self._compression, options=_CHANNEL_OPTIONS
            )
        else:
            channel = grpc.aio.insecure_channel(
                self._target, compression=self._compression, options=_CHANNEL_OPTIONS
            )
        self._channel = channel
        self._call = channel.unary_unary(
            EXPORT_METHOD,
            request_serializer=None,  # the request is already bytes
            response_deserializer=ExportTraceServiceResponse.FromString,
        )
        return self._call

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        """Send one batch; returns how it went, never raises on transport errors."""
        if self._closed:
            log.warning("otlp export after shutdown", endpoint=self._target, spans=len(spans))
            return ExportResult.FAILURE
        if not spans:
            return ExportResult.SUCCESS
        self.retry_after_s = None
        try:
            payload = encode_request_bytes(spans, resource_attributes=self._resource_attributes)
            call = self._call or self._open()
            response = await call(payload, timeout=self._timeout_s, metadata=self._metadata or None)
        except grpc.aio.AioRpcError as err:
            return self._failed(err, spans=len(spans))
        except Exception:
            # Not a transport error (a bad record, a misconfigured channel): retrying won't help.
            log.exception("otlp export error", endpoint=self._target, spans=len(spans))
            return ExportResult.FAILURE
        check_partial_success(response, endpoint=self._target, spans=len(spans))
        return ExportResult.SUCCESS

    def _failed(self, err: grpc.aio.AioRpcError, *, spans: int) -> ExportResult:
        delay = _retry_delay(err.trailing_metadata())
        result = classify_status(err.code(), retry_info=delay is not None)
        if result is ExportResult.RETRYABLE_FAILURE:
            self.retry_after_s = delay
        log.warning(
            "otlp export failed",
            endpoint=self._target,
            protocol="grpc",
            code=err.code().name,
            details=(err.details() or "")[:300],
            retryable=result is ExportResult.RETRYABLE_FAILURE,
            retry_after_s=delay,
            spans=spans,
        )
        return result

    async def shutdown(self) -> None:
        """Close the channel; idempotent."""
        self._closed = True
        channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            await channel.close()
