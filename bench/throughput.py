"""Throughput, side by side on the same lines in one process: A parse-only, B pipeline, C naive.

The capture (`capture_gen`) is generated chunk by chunk (generation is not
timed); every chunk goes through A, then B, then C, so the three see exactly
the same bytes under the same machine conditions, and B and C each keep their
own engine state across chunks as a live daemon would.

- A: `orjson.loads` of each line, nothing else: the floor any Python pipeline pays.
- B: tracewatch in replay mode: `tracewatch replay`'s own line parser
  (`parse_capture_line`: one schema-directed decode of the line into the core's
  snapshot, stamped with its observedAt), `Engine.observe`, whole-trace
  sampling, and OTLP protobuf bytes (`encode_request_bytes`) for every batch
  of 1024 spans, written to a null sink.
- C: the same reconstruction fed the way a client-library pipeline would be:
  `orjson.loads`, kubernetes_asyncio model deserialization (V1Pod, CoreV1Event,
  V1ReplicaSet, V1Deployment), converted back to our snapshot
  (`sanitize_for_serialization` then `msgspec.convert`), the same engine and
  sampling, then each span re-created through the OpenTelemetry SDK tracer
  (explicit ids, times, attributes, events, links, status; one TracerProvider per
  service, an in-memory processor) and every 1024 spans encoded with the SDK's
  standard OTLP encoder (`encode_spans(...).SerializeToString()`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import capture_gen
import common  # noqa: F401  (sets the import path)
import msgspec
import orjson
from common import Stopwatch, script_main

from tracewatch.capture.lines import parse_capture_line
from tracewatch.core.clock import parse_timestamp_ns
from tracewatch.core.engine import Engine
from tracewatch.core.observations import Change, Observation
from tracewatch.core.spans import SpanRecord
from tracewatch.export.encoding import encode_request_bytes
from tracewatch.export.sampling import SamplingPolicy, sample
from tracewatch.kube.decoding import SNAPSHOT_TYPES

CHUNK_LINES = 4096
BATCH_SPANS = 1024  # the export queue's batch size
_CHANGES = {"ADDED": Change.ADDED, "MODIFIED": Change.MODIFIED, "DELETED": Change.DELETED}
_RESOURCES = {"Pod": "pods", "Event": "events", "ReplicaSet": "replicasets",
              "Deployment": "deployments", "StatefulSet": "statefulsets",
              "DaemonSet": "daemonsets", "Job": "jobs", "Node": "nodes",
              "PersistentVolumeClaim": "persistentvolumeclaims",
              "PersistentVolume": "persistentvolumes"}
_MODELS = {"Pod": "V1Pod", "Event": "CoreV1Event", "ReplicaSet": "V1ReplicaSet",
           "Deployment": "V1Deployment"}


class ParseOnly:
    """A: orjson.loads of every line."""

    def __init__(self) -> None:
        self.events = 0
        self.watch = Stopwatch()

    def feed(self, lines: Sequence[bytes]) -> None:
        loads = orjson.loads
        with self.watch:
            for line in lines:
                loads(line)
        self.events += len(lines)

    def finish(self) -> None:
        pass


class _Reconstruction:
    """What B and C share: the engine, sampling and batching; subclasses decode and encode."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.policy = SamplingPolicy()
        self.pending: list[SpanRecord] = []
        self.events = self.spans = self.exported_bytes = 0
        self.watch = Stopwatch()

    def _spans(self, spans: list[SpanRecord]) -> None:
        if not spans:
            return
        self.spans += len(spans)
        self.pending.extend(sample(spans, policy=self.policy).kept)
        if len(self.pending) >= BATCH_SPANS:
            self._flush()

    def _flush(self) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        with self.watch:
            self._spans(self.engine.drain())
            if self.pending:
                self._flush()


class Pipeline(_Reconstruction):
    """B: schema-directed decoding -> engine -> sampling -> OTLP bytes to a null sink."""

    def feed(self, lines: Sequence[bytes]) -> None:
        observe, spans = self.engine.observe, self._spans
        with self.watch:
            for line in lines:
                observation = parse_capture_line(line).observation
                assert observation is not None
                spans(observe(observation))
        self.events += len(lines)

    def _flush(self) -> None:
        self.exported_bytes += len(encode_request_bytes(self.pending))
        self.pending = []


class Naive(_Reconstruction):
    """C: generated client models in, OpenTelemetry SDK spans and its OTLP encoder out."""

    def __init__(self) -> None:
        super().__init__()
        from kubernetes_asyncio.client import ApiClient
        from opentelemetry import trace as api
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
            InMemorySpanExporter,
        )
        from opentelemetry.sdk.trace.id_generator import IdGenerator

        class FixedIds(IdGenerator):
            """Hands the SDK our deterministic ids, so parentage matches B's output."""

            trace_id = span_id = 0

            def generate_trace_id(self) -> int:
                return self.trace_id

            def generate_span_id(self) -> int:
                return self.span_id

        self._api = api
        self._encode_spans = encode_spans
        self._loop = asyncio.new_event_loop()  # ApiClient builds an aiohttp connector
        self._client = self._loop.run_until_complete(_make_client(ApiClient))
        self._deserialize = self._client._ApiClient__deserialize
        self._sanitize = self._client.sanitize_for_serialization
        self._snapshot_types = {kind: SNAPSHOT_TYPES[res] for kind, res in _RESOURCES.items()}
        self._ids = FixedIds()
        self._memory = InMemorySpanExporter()
        self._tracers: dict[str, Any] = {}

        def tracer(service: str) -> Any:
            provider = TracerProvider(resource=Resource.create({"service.name": service}),
                                      id_generator=self._ids)
            provider.add_span_processor(SimpleSpanProcessor(self._memory))
            return provider.get_tracer("tracewatch", "0.1.0")

        self._new_tracer = tracer

    def feed(self, lines: Sequence[bytes]) -> None:
        observe, spans = self.engine.observe, self._spans
        with self.watch:
            for line in lines:
                record = orjson.loads(line)
                raw = record["object"]
                kind = raw["kind"]
                model = self._deserialize(raw, _MODELS[kind])
                snapshot = msgspec.convert(self._sanitize(model), type=self._snapshot_types[kind])
                observed_at = parse_timestamp_ns(record["observedAt"])
                assert observed_at is not None
                spans(observe(Observation(observed_at, _CHANGES[record["type"]],
                                          _RESOURCES[kind], snapshot)))
        self.events += len(lines)

    def _sdk_span(self, record: SpanRecord) -> None:
        api = self._api
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode

        tracer = self._tracers.get(record.service)
        if tracer is None:
            tracer = self._tracers[record.service] = self._new_tracer(record.service)
        trace_id = int.from_bytes(record.trace_id, "big")
        self._ids.trace_id = trace_id
        self._ids.span_id = int.from_bytes(record.span_id, "big")
        context = None
        if record.parent_span_id:
            parent = api.SpanContext(trace_id, int.from_bytes(record.parent_span_id, "big"),
                                     is_remote=False, trace_flags=api.TraceFlags(1))
            context = api.set_span_in_context(api.NonRecordingSpan(parent))
        links = [Link(api.SpanContext(int.from_bytes(link.trace_id, "big"),
                                      int.from_bytes(link.span_id, "big"), is_remote=False),
                      dict(link.attributes)) for link in record.links]
        span = tracer.start_span(record.name, context=context, kind=SpanKind.INTERNAL,
                                 attributes=dict(record.attributes), links=links,
                                 start_time=record.start_ns)
        for event in record.events:
            span.add_event(event.name, dict(event.attributes), timestamp=event.time_ns)
        if record.status:
            span.set_status(Status(StatusCode(int(record.status)), record.status_message))
        span.end(end_time=record.end_ns)

    def _flush(self) -> None:
        for record in self.pending:
            self._sdk_span(record)
        self.pending = []
        finished = self._memory.get_finished_spans()
        self._memory.clear()
        self.exported_bytes += len(self._encode_spans(finished).SerializeToString())

    def close(self) -> None:
        self._loop.run_until_complete(self._client.close())
        self._loop.close()


async def _make_client(factory: Any) -> Any:
    return factory()


def _chunks(lines: Iterable[bytes], size: int) -> Iterable[list[bytes]]:
    iterator = iter(lines)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def run(small: bool) -> dict[str, Any]:
    shape = capture_gen.SMALL if small else capture_gen.FULL
    a, b, c = ParseOnly(), Pipeline(), Naive()
    line_bytes = 0
    try:
        for chunk in _chunks(capture_gen.generate(shape), CHUNK_LINES):
            line_bytes += sum(len(line) for line in chunk)
            a.feed(chunk)
            b.feed(chunk)
            c.feed(chunk)
        for runner in (a, b, c):
            runner.finish()
    finally:
        c.close()
    rate = {name: r.events / r.watch.seconds for name, r in (("a", a), ("b", b), ("c", c))}
    return {
        "throughput.pod_lifecycles": shape.pod_lifecycles,
        "throughput.namespaces": shape.namespaces,
        "throughput.lines": b.events,
        "throughput.mean_line_bytes": round(line_bytes / max(1, b.events)),
        "throughput.parse_only_events_per_s": rate["a"],
        "throughput.pipeline_events_per_s": rate["b"],
        "throughput.naive_events_per_s": rate["c"],
        "throughput.pipeline_spans_per_s": b.spans / b.watch.seconds,
        "throughput.naive_spans_per_s": c.spans / c.watch.seconds,
        "throughput.spans": b.spans,
        "throughput.naive_spans": c.spans,
        "throughput.otlp_bytes": b.exported_bytes,
        "throughput.naive_otlp_bytes": c.exported_bytes,
        "throughput.parse_only_s": a.watch.seconds,
        "throughput.pipeline_s": b.watch.seconds,
        "throughput.naive_s": c.watch.seconds,
        "throughput.b_over_a": rate["b"] / rate["a"],
        "throughput.b_over_c": rate["b"] / rate["c"],
    }


if __name__ == "__main__":
    raise SystemExit(script_main("throughput", run))
