"""OTLP/HTTP exporter against a real aiohttp receiver: delivery, gzip, failure classes."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from structlog.testing import capture_logs

from tracewatch.export.base import ExportResult
from tracewatch.export.otlp_http import (
    OtlpHttpExporter,
    classify_http_status,
    parse_retry_after,
    traces_url,
)

from ..receivers import HttpReceiver
from .builders import pod_startup


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_spans_reach_the_receiver_as_protobuf() -> None:
    """A batch is POSTed to /v1/traces as application/x-protobuf and arrives whole."""
    async with HttpReceiver() as receiver:
        exporter = OtlpHttpExporter(
            endpoint=receiver.endpoint, resource_attributes=(("k8s.cluster.name", "test"),)
        )
        try:
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
        spans = await receiver.wait_for(lambda s: len(s) == 5)
    assert receiver.headers[0]["content-type"] == "application/x-protobuf"
    by_name = {s.name: s for s in spans}
    assert by_name["kubelet.StartContainer"].parent_span_id == by_name["kubelet.StartPod"].span_id
    assert {s.resource["k8s.cluster.name"] for s in spans} == {"test"}


async def test_gzip_and_headers() -> None:
    """With compression the body is gzip with Content-Encoding set; user headers are sent."""
    async with HttpReceiver() as receiver:
        exporter = OtlpHttpExporter(
            endpoint=receiver.endpoint + "/v1/traces",
            compression=True,
            headers={"Authorization": "Bearer s3cret", "Content-Type": "text/plain"},
        )
        try:
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
        await receiver.wait_for(lambda s: len(s) == 5)
    sent = receiver.headers[0]
    assert sent["content-encoding"] == "gzip"
    assert sent["authorization"] == "Bearer s3cret"
    assert sent["content-type"] == "application/x-protobuf"  # transport-owned header wins


async def test_503_is_retryable_with_retry_after_then_succeeds() -> None:
    """503 is retryable, Retry-After is kept as a hint, and the next export goes through."""
    async with HttpReceiver() as receiver:
        receiver.fail_next(503, retry_delay_s=7)
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint)
        try:
            assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
            assert exporter.retry_after_s == 7
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
    assert receiver.attempts == 2 and len(receiver.requests) == 1


async def test_400_is_not_retryable_and_logs_the_status_message() -> None:
    """400 means bad data: FAILURE, with the server's Status message in the log."""
    async with HttpReceiver() as receiver:
        receiver.fail_next(400, message="span name missing")
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint, headers={"authorization": "t0k"})
        try:
            with capture_logs() as logs:
                assert await exporter.export(pod_startup()) is ExportResult.FAILURE
        finally:
            await exporter.shutdown()
    (entry,) = [e for e in logs if e["event"] == "otlp export failed"]
    assert (entry["status"], entry["message"], entry["retryable"]) == (
        400,
        "span name missing",
        False,
    )
    assert "t0k" not in repr(logs)


async def test_partial_success_is_success_and_logged() -> None:
    """A 200 with partial_success is not retried; the rejected count is logged."""
    async with HttpReceiver() as receiver:
        receiver.reject_partially(rejected_spans=1, message="dup")
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint)
        try:
            with capture_logs() as logs:
                assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
    assert [
        e["rejected_spans"] for e in logs if e["event"] == "otlp export partially rejected"
    ] == [1]


async def test_slow_receiver_times_out_as_retryable() -> None:
    """An answer slower than the timeout is retryable, not raised."""
    async with HttpReceiver() as receiver:
        receiver.answer_after(0.25)
        exporter = OtlpHttpExporter(endpoint=receiver.endpoint, timeout_s=0.05)
        try:
            assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
        finally:
            await exporter.shutdown()


async def test_closed_port_is_retryable_without_raising() -> None:
    """Connection refused: RETRYABLE_FAILURE, no exception."""
    exporter = OtlpHttpExporter(endpoint=f"http://127.0.0.1:{_closed_port()}", timeout_s=2.0)
    try:
        assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
    finally:
        await exporter.shutdown()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, ExportResult.SUCCESS),
        (429, ExportResult.RETRYABLE_FAILURE),
        (502, ExportResult.RETRYABLE_FAILURE),
        (503, ExportResult.RETRYABLE_FAILURE),
        (504, ExportResult.RETRYABLE_FAILURE),
        (400, ExportResult.FAILURE),
        (401, ExportResult.FAILURE),
        (404, ExportResult.FAILURE),
        (413, ExportResult.FAILURE),
        (500, ExportResult.FAILURE),
    ],
)
def test_status_table_matches_the_otlp_spec(status: int, expected: ExportResult) -> None:
    """Only 429/502/503/504 are retryable; other 4xx/5xx are not (413 must not be retried)."""
    assert classify_http_status(status) is expected


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://localhost:4318", "http://localhost:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otlp.example.com", "https://otlp.example.com:443/v1/traces"),
        ("http://gw:8080/otlp/v1/traces", "http://gw:8080/otlp/v1/traces"),
        ("http://gw:8080/otlp", "http://gw:8080/otlp/v1/traces"),
        ("collector:4318", "http://collector:4318/v1/traces"),
        ("collector", "http://collector:4318/v1/traces"),
        ("http://[::1]:4318", "http://[::1]:4318/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    """/v1/traces is appended unless the endpoint already ends with it."""
    assert traces_url(endpoint) == url


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    """Retry-After is either delta-seconds or an HTTP-date; garbage gives no hint."""
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(datetime(2024, 1, 1, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
