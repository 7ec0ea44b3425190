"""Real OTLP trace receivers for tests: a grpc.aio TraceService and an aiohttp /v1/traces.

Both listen on 127.0.0.1 with an ephemeral port, keep every accepted
ExportTraceServiceRequest, flatten them into `ReceivedSpan`s, and can be told
to misbehave (fail with a status N times, reject part of a batch, answer
slowly) so exporter and queue tests exercise the real wire.

    async with GrpcReceiver() as receiver:
        exporter = OtlpGrpcExporter(endpoint=receiver.endpoint)
        ...
        spans = await receiver.wait_for(lambda spans: len(spans) >= 5)
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import grpc
import grpc.aio
from aiohttp import web
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2

__all__ = [
    "GrpcReceiver",
    "HttpReceiver",
    "ReceivedEvent",
    "ReceivedLink",
    "ReceivedSpan",
    "flatten",
]

Request = trace_service_pb2.ExportTraceServiceRequest


@dataclass(frozen=True)
class ReceivedEvent:
    time_ns: int
    name: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedLink:
    trace_id: str
    span_id: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class ReceivedSpan:
    """One span as a receiver saw it; ids are lowercase hex ("" for no parent)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[ReceivedEvent]
    links: list[ReceivedLink]
    status_code: int
    status_message: str
    resource: dict[str, Any]
    scope_name: str
    scope_version: str

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns


def any_value(value: common_pb2.AnyValue) -> Any:
    """An AnyValue as Python: arrays become tuples (like SpanRecord attributes)."""
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return tuple(any_value(v) for v in value.array_value.values)
    if which == "kvlist_value":
        return attributes_dict(value.kvlist_value.values)
    return getattr(value, which)


def attributes_dict(keyvalues: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in keyvalues}


def _received(span: Any, *, resource: dict[str, Any], scope: Any) -> ReceivedSpan:
    return ReceivedSpan(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex(),
        name=span.name,
        service=str(resource.get("service.name", "")),
        kind=span.kind,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        attributes=attributes_dict(span.attributes),
        events=[
            ReceivedEvent(e.time_unix_nano, e.name, attributes_dict(e.attributes))
            for e in span.events
        ],
        links=[
            ReceivedLink(lk.trace_id.hex(), lk.span_id.hex(), attributes_dict(lk.attributes))
            for lk in span.links
        ],
        status_code=span.status.code,
        status_message=span.status.message,
        resource=resource,
        scope_name=scope.name,
        scope_version=scope.version,
    )


def flatten(requests: list[Request]) -> list[ReceivedSpan]:
    """Every span of the requests, in arrival order."""
    out = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = attributes_dict(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                out.extend(
                    _received(span, resource=resource, scope=scope_spans.scope)
                    for span in scope_spans.spans
                )
    return out


@dataclass
class _Behaviour:
    """What the receiver does with the next requests; tests change it between exports."""

    fail_code: Any = None  # grpc.StatusCode or HTTP status
    fail_times: int = 0
    retry_delay_s: float | None = None
    fail_message: str = "injected failure"
    rejected_spans: int = 0
    partial_message: str = ""
    delay_s: float = 0.0


@dataclass
class _Base:
    requests: list[Request] = field(default_factory=list)
    attempts: int = 0  # every request, accepted or not
    headers: list[dict[str, str]] = field(default_factory=list)  # per attempt, lowercased keys
    behaviour: _Behaviour = field(default_factory=_Behaviour)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def fail_next(
        self,
        code: Any,
        *,
        times: int = 1,
        retry_delay_s: float | None = None,
        message: str = "injected failure",
    ) -> None:
        """Answer the next `times` requests with `code` (gRPC status or HTTP status)."""
        self.behaviour.fail_code = code
        self.behaviour.fail_times = times
        self.behaviour.retry_delay_s = retry_delay_s
        self.behaviour.fail_message = message

    def reject_partially(self, *, rejected_spans: int, message: str = "rejected") -> None:
        """Accept requests but report `rejected_spans` as rejected (partial success)."""
        self.behaviour.rejected_spans = rejected_spans
        self.behaviour.partial_message = message

    def answer_after(self, delay_s: float) -> None:
        """Delay every answer by `delay_s` (a slow backend)."""
        self.behaviour.delay_s = delay_s

    def spans(self) -> list[ReceivedSpan]:
        return flatten(self.requests)

    async def wait_for(
        self,
        predicate: Callable[[list[ReceivedSpan]], bool] = bool,
        *,
        timeout: float = 5.0,
    ) -> list[ReceivedSpan]:
        """The received spans once `predicate(spans)` holds; TimeoutError otherwise."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._changed.clear()
                    spans = self.spans()
                    if predicate(spans):
                        return spans
                    await self._changed.wait()
        except TimeoutError:
            got = self.spans()
            raise TimeoutError(
                f"receiver: predicate still false after {timeout}s with {len(got)} spans: "
                f"{[s.name for s in got][:20]}"
            ) from None

    def _take_failure(self) -> bool:
        if self.behaviour.fail_times <= 0:
            return False
        self.behaviour.fail_times -= 1
        return True

    def _accept(self, request: Request) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        self._changed.set()
        response = trace_service_pb2.ExportTraceServiceResponse()
        if self.behaviour.rejected_spans or self.behaviour.partial_message:
            response.partial_success.rejected_spans = self.behaviour.rejected_spans
            response.partial_success.error_message = self.behaviour.partial_message
        return response

    def _status(self, code: int) -> status_pb2.Status:
        status = status_pb2.Status(code=code, message=self.behaviour.fail_message)
        if self.behaviour.retry_delay_s is not None:
            seconds = self.behaviour.retry_delay_s
            info = error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    seconds=int(seconds), nanos=int((seconds % 1) * 1e9)
                )
            )
            status.details.add().Pack(info)
        return status


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: GrpcReceiver) -> None:
        self._receiver = receiver

    async def Export(
        self, request: Request, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        receiver = self._receiver
        receiver.attempts += 1
        receiver.headers.append({k.lower(): v for k, v in context.invocation_metadata() or ()})
        if receiver.behaviour.delay_s:
            await asyncio.sleep(receiver.behaviour.delay_s)
        if receiver._take_failure():
            code: grpc.StatusCode = receiver.behaviour.fail_code
            status = receiver._status(code.value[0])
            # RetryInfo travels as a serialized google.rpc.Status in this trailer.
            context.set_trailing_metadata(
                (("grpc-status-details-bin", status.SerializeToString()),)
            )
            await context.abort(code, receiver.behaviour.fail_message)
        return receiver._accept(request)


class GrpcReceiver(_Base):
    """An OTLP/gRPC TraceService on 127.0.0.1:<ephemeral>."""

    def __init__(self) -> None:
        super().__init__()
        self._server: grpc.aio.Server | None = None
        self.endpoint = ""

    async def start(self) -> str:
        """Start serving; returns the endpoint as `127.0.0.1:port`."""
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(self), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        self._server = server
        self.endpoint = f"127.0.0.1:{port}"
        return self.endpoint

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(grace=None)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class HttpReceiver(_Base):
    """An OTLP/HTTP endpoint (POST /v1/traces, binary protobuf, gzip) on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self._runner: web.AppRunner | None = None
        self.endpoint = ""

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.headers.append({k.lower(): v for k, v in request.headers.items()})
        body = await request.read()
        if (
            request.headers.get("Content-Encoding", "").lower() == "gzip"
            and body[:2] == b"\x1f\x8b"
        ):
            body = gzip.decompress(body)  # in case the server stack left it compressed
        if self.behaviour.delay_s:
            await asyncio.sleep(self.behaviour.delay_s)
        if request.content_type != "application/x-protobuf":
            return self._error(415, "only application/x-protobuf is supported here", {})
        if self._take_failure():
            extra: Mapping[str, str] = {}
            if self.behaviour.retry_delay_s is not None:
                extra = {"Retry-After": str(int(self.behaviour.retry_delay_s))}
            return self._error(int(self.behaviour.fail_code), self.behaviour.fail_message, extra)
        try:
            parsed = Request.FromString(body)
        except Exception:
            return self._error(400, "body is not an ExportTraceServiceRequest", {})
        response = self._accept(parsed)
        return web.Response(
            body=response.SerializeToString(), content_type="application/x-protobuf"
        )

    def _error(self, status: int, message: str, headers: Mapping[str, str]) -> web.Response:
        body = status_pb2.Status(code=0, message=message).SerializeToString()
        return web.Response(
            status=status, body=body, headers=headers, content_type="application/x-protobuf"
        )

    async def start(self) -> str:
        """Start serving; returns the endpoint as `http://127.0.0.1:port`."""
        app = web.Application()
        app.router.add_post("/v1/traces", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.endpoint = f"http://{host}:{port}"
        return self.endpoint

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
