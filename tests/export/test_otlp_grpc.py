"""OTLP/gRPC exporter against a real grpc.aio receiver: delivery, headers, failure classes."""

from __future__ import annotations

import socket

import grpc
import pytest
from structlog.testing import capture_logs

from tracewatch.export.base import ExportResult
from tracewatch.export.otlp_grpc import OtlpGrpcExporter, classify_status

from ..receivers import GrpcReceiver
from .builders import pod_startup


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_spans_reach_the_receiver_with_resource_and_parentage() -> None:
    """A batch arrives whole: names, services, parent links and the cluster resource attribute."""
    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(
            endpoint=receiver.endpoint, resource_attributes=(("k8s.cluster.name", "test"),)
        )
        try:
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
        spans = await receiver.wait_for(lambda s: len(s) == 5)
    by_name = {s.name: s for s in spans}
    assert by_name["kubelet.PullImage"].parent_span_id == by_name["kubelet.StartPod"].span_id
    assert by_name["k8s.CreatePod"].parent_span_id == ""
    assert by_name["scheduler.SchedulePod"].service == "kube-scheduler"
    assert all(s.resource["k8s.cluster.name"] == "test" for s in spans)


async def test_http_scheme_headers_and_gzip_are_accepted() -> None:
    """An http:// endpoint, metadata headers (lowercased) and gzip compression all work."""
    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(
            endpoint=f"http://{receiver.endpoint}",
            headers={"Authorization": "Bearer s3cret", "X-Tenant": "a"},
            compression=True,
        )
        try:
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
    assert receiver.headers[0]["authorization"] == "Bearer s3cret"
    assert receiver.headers[0]["x-tenant"] == "a"


async def test_unavailable_is_retryable_and_then_succeeds() -> None:
    """UNAVAILABLE is retryable; the same exporter succeeds once the receiver recovers."""
    async with GrpcReceiver() as receiver:
        receiver.fail_next(grpc.StatusCode.UNAVAILABLE, times=1, retry_delay_s=2.5)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint)
        try:
            assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
            assert exporter.retry_after_s == pytest.approx(2.5)
            assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
            assert exporter.retry_after_s is None
        finally:
            await exporter.shutdown()
    assert receiver.attempts == 2 and len(receiver.requests) == 1


async def test_invalid_argument_is_not_retryable() -> None:
    """INVALID_ARGUMENT means bad data: the batch must be dropped, and the failure is logged."""
    async with GrpcReceiver() as receiver:
        receiver.fail_next(grpc.StatusCode.INVALID_ARGUMENT, message="bad span")
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, headers={"authorization": "t0k"})
        try:
            with capture_logs() as logs:
                assert await exporter.export(pod_startup()) is ExportResult.FAILURE
        finally:
            await exporter.shutdown()
    (entry,) = [e for e in logs if e["event"] == "otlp export failed"]
    assert entry["code"] == "INVALID_ARGUMENT" and entry["retryable"] is False
    assert "t0k" not in repr(logs)


async def test_resource_exhausted_is_retryable_only_with_retry_info() -> None:
    """RESOURCE_EXHAUSTED is retryable only when the server sends RetryInfo (OTLP spec)."""
    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint)
        try:
            receiver.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert await exporter.export(pod_startup()) is ExportResult.FAILURE
            receiver.fail_next(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_delay_s=1.0)
            assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
        finally:
            await exporter.shutdown()


async def test_partial_success_is_success_and_logged() -> None:
    """A partial success must not be retried; the rejected count is logged."""
    async with GrpcReceiver() as receiver:
        receiver.reject_partially(rejected_spans=2, message="too old")
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint)
        try:
            with capture_logs() as logs:
                assert await exporter.export(pod_startup()) is ExportResult.SUCCESS
        finally:
            await exporter.shutdown()
    (entry,) = [e for e in logs if e["event"] == "otlp export partially rejected"]
    assert entry["rejected_spans"] == 2 and entry["error_message"] == "too old"


async def test_slow_receiver_times_out_as_retryable() -> None:
    """An answer slower than the timeout is DEADLINE_EXCEEDED: retryable, not raised."""
    async with GrpcReceiver() as receiver:
        receiver.answer_after(0.25)
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint, timeout_s=0.05)
        try:
            assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
        finally:
            await exporter.shutdown()


async def test_closed_port_is_retryable_without_raising() -> None:
    """Nothing listening: the export returns RETRYABLE_FAILURE instead of raising."""
    exporter = OtlpGrpcExporter(endpoint=f"127.0.0.1:{_closed_port()}", timeout_s=2.0)
    try:
        assert await exporter.export(pod_startup()) is ExportResult.RETRYABLE_FAILURE
    finally:
        await exporter.shutdown()


async def test_empty_batch_and_shutdown_semantics() -> None:
    """An empty batch succeeds without a call; after shutdown (idempotent) exports fail."""
    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint)
        assert await exporter.export([]) is ExportResult.SUCCESS
        await exporter.shutdown()
        await exporter.shutdown()
        assert await exporter.export(pod_startup()) is ExportResult.FAILURE
    assert receiver.attempts == 0


@pytest.mark.parametrize(
    ("code", "retry_info", "expected"),
    [
        (grpc.StatusCode.CANCELLED, False, ExportResult.RETRYABLE_FAILURE),
        (grpc.StatusCode.ABORTED, False, ExportResult.RETRYABLE_FAILURE),
        (grpc.StatusCode.OUT_OF_RANGE, False, ExportResult.RETRYABLE_FAILURE),
        (grpc.StatusCode.DATA_LOSS, False, ExportResult.RETRYABLE_FAILURE),
        (grpc.StatusCode.UNAUTHENTICATED, False, ExportResult.FAILURE),
        (grpc.StatusCode.PERMISSION_DENIED, False, ExportResult.FAILURE),
        (grpc.StatusCode.UNIMPLEMENTED, False, ExportResult.FAILURE),
        (grpc.StatusCode.INTERNAL, False, ExportResult.FAILURE),
        (grpc.StatusCode.UNKNOWN, False, ExportResult.FAILURE),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, True, ExportResult.RETRYABLE_FAILURE),
    ],
)
def test_status_table_matches_the_otlp_spec(
    code: grpc.StatusCode, retry_info: bool, expected: ExportResult
) -> None:
    """Each gRPC status maps to the OTLP spec's retryable/not-retryable verdict."""
    assert classify_status(code, retry_info=retry_info) is expected


@pytest.mark.parametrize("endpoint", [
    "ftp://x:1", "", "host:notaport", "host:70000", "http://[::1", "[::1]x", "[::1]4317",
    "[jaeger]:4317", "::1:4317", "jae ger:4317", "http://:4317", "-jaeger:4317",
])
def test_bad_endpoints_are_rejected_at_construction(endpoint: str) -> None:
    """An endpoint that cannot be dialled is a ValueError when the exporter is built."""
    with pytest.raises(ValueError, match="endpoint"):
        OtlpGrpcExporter(endpoint=endpoint)
