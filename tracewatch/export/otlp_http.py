"""OTLP/HTTP exporter on aiohttp: POST the protobuf request to `<endpoint>/v1/traces`.

Responses are classified as the OTLP/HTTP spec says (opentelemetry-proto
docs/specification.md, "OTLP/HTTP Response"): 429, 502, 503, 504 and a
dropped connection or timeout are retryable; every other 4xx/5xx is not.
"""

from __future__ import annotations

import email.utils
import gzip
import ssl
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp
from google.protobuf.message import DecodeError
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tracewatch.core.spans import Attributes, SpanRecord
from tracewatch.export._otlp import (
    DEFAULT_HTTP_PORT,
    TRACES_PATH,
    check_partial_success,
    log,
    parse_endpoint,
)
from tracewatch.export.base import ExportResult
from tracewatch.export.encoding import encode_request_bytes

__all__ = ["OtlpHttpExporter", "classify_http_status", "traces_url"]

_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_PROTOBUF = "application/x-protobuf"


def traces_url(endpoint: str) -> str:
    """The URL to POST to: the endpoint as is when it names /v1/traces, else with it appended."""
    parsed = parse_endpoint(endpoint, default_port=DEFAULT_HTTP_PORT)
    scheme = parsed.scheme or "http"
    path = parsed.path if parsed.path.endswith(TRACES_PATH) else parsed.path + TRACES_PATH
    return f"{scheme}://{parsed.authority}{path}"


def classify_http_status(status: int) -> ExportResult:
    """The OTLP/HTTP verdict on a response status."""
    if 200 <= status < 300:
        return ExportResult.SUCCESS
    if status in _RETRYABLE_STATUSES:
        return ExportResult.RETRYABLE_FAILURE
    return ExportResult.FAILURE


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _status_message(body: bytes) -> str:
    # Error bodies SHOULD be a protobuf google.rpc.Status; fall back to text.
    try:
        message = status_pb2.Status.FromString(body).message
    except Exception:
        message = ""
    return (message or body.decode("utf-8", "replace"))[:300]


class OtlpHttpExporter:
    """Sends span batches to an OTLP/HTTP endpoint as binary protobuf.

    `retry_after_s` holds the Retry-After hint from the last retryable failure
    (None when there was none), for the caller's backoff.
    """

    def __init__(
        self,
        *,
        endpoint: str = f"http://localhost:{DEFAULT_HTTP_PORT}",
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        compression: bool = False,
        ca_file: str | Path | None = None,
        resource_attributes: Attributes = (),
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"OTLP timeout must be positive, got {timeout_s}")
        self._url = traces_url(endpoint)
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else True
        )
        # Transport-owned headers last, so user headers cannot corrupt the request.
        self._headers = {**(headers or {}), "Content-Type": _PROTOBUF}
        if compression:
            self._headers["Content-Encoding"] = "gzip"
        self._compression = compression
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._resource_attributes = resource_attributes
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self.retry_after_s: float | None = None

    @property
    def url(self) -> str:
        return self._url

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        """Send one batch; returns how it went, never raises on transport errors."""
        if self._closed:
            log.warning("otlp export after shutdown", endpoint=self._url, spans=len(spans))
            return ExportResult.FAILURE
        if not spans:
            return ExportResult.SUCCESS
        self.retry_after_s = None
        try:
            body = encode_request_bytes(spans, resource_attributes=self._resource_attributes)
            if self._compression:
                body = gzip.compress(body, compresslevel=6)
            if self._session is None:
                # aiohttp sessions bind to the running loop, so they are created on first use.
                self._session = aiohttp.ClientSession(timeout=self._timeout)
            async with self._session.post(
                self._url, data=body, headers=self._headers, ssl=self._ssl
            ) as response:
                payload = await response.read()
                return self._handle(response, payload, spans=len(spans))
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            # Refused, reset or timed out: the spec says retry with backoff.
            log.warning(
                "otlp export failed",
                endpoint=self._url,
                protocol="http",
                error=f"{type(err).__name__}: {err}"[:300],
                retryable=True,
                spans=len(spans),
            )
            return ExportResult.RETRYABLE_FAILURE
        except Exception:
            log.exception("otlp export error", endpoint=self._url, spans=len(spans))
            return ExportResult.FAILURE

    def _handle(
        self, response: aiohttp.ClientResponse, payload: bytes, *, spans: int
    ) -> ExportResult:
        result = classify_http_status(response.status)
        if result is ExportResult.SUCCESS:
            if payload and response.content_type == _PROTOBUF:
                try:
                    parsed = ExportTraceServiceResponse.FromString(payload)
                except DecodeError:  # accepted all the same; the body is only advisory
                    return result
                check_partial_success(parsed, endpoint=self._url, spans=spans)
            return result
        if result is ExportResult.RETRYABLE_FAILURE:
            self.retry_after_s = parse_retry_after(response.headers.get("Retry-After"))
        log.warning(
            "otlp export failed",
            endpoint=self._url,
            protocol="http",
            status=response.status,
            message=_status_message(payload),
            retryable=result is ExportResult.RETRYABLE_FAILURE,
            retry_after_s=self.retry_after_s,
            spans=spans,
        )
        return result

    async def shutdown(self) -> None:
        """Close the HTTP session; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()
