"""The daemon's Prometheus metrics, in one registry per pipeline.

Two kinds of source, chosen for the hot path's sake:
- counters that already exist as plain integers (informer stats, observation
  counts, the export queue's stats, engine state) are read at scrape time by a
  custom collector, so the hot path pays nothing for them;
- what only exists as it passes (emitted traces, export calls, loop lag) is
  observed here: `observe_emitted` makes one pass over each emitted step's
  spans and feeds the lifecycle counter and the duration histograms, with the
  trace id as exemplar (shown to scrapers that ask for OpenMetrics) when the
  trace was kept by sampling, so an exemplar always leads to a trace.

Names follow Prometheus conventions: `tracewatch_` prefix, base units
(seconds), `_total` on counters.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult
from tracewatch.export.queue import ExportQueue
from tracewatch.kube.informer import Informer

__all__ = ["PHASES", "ROLLOUTS", "STARTUP_ROOT", "Metrics", "PipelineState"]

STARTUP_ROOT = "k8s.CreatePod"
PHASES = {
    "scheduler.SchedulePod": "scheduling",
    "kubelet.PullImage": "image_pull",
    "kubelet.StartContainer": "container_start",
    "kubelet.WaitReady": "readiness",
}
"""Pod startup phases with their own histogram, by span name."""
ROLLOUTS = {
    "k8s.RolloutDeployment": "deployment",
    "k8s.RolloutStatefulSet": "statefulset",
    "k8s.RolloutDaemonSet": "daemonset",
}
_OUTCOME = "tracewatch.outcome"
_COMPLETED = "completed"
_NS = 1e-9

# Pod startups range from about a second (cached image, no probe) to many minutes (big
# image pulls, long readiness delays); phases go down to tens of milliseconds.
STARTUP_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
PHASE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
ROLLOUT_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)
EXPORT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class EngineView(Protocol):
    @property
    def tracked(self) -> int: ...

    @property
    def counters(self) -> Mapping[str, int]: ...


@dataclass(slots=True, kw_only=True)
class PipelineState:
    """What the scrape-time collector reads; the pipeline fills it in once."""

    informers: Sequence[Informer] = ()
    queue: ExportQueue | None = None
    engine: EngineView | None = None
    observations: Tally[tuple[str, str]] = field(default_factory=Tally)
    """Observations by (resource, change type), counted by the pipeline's consumer."""
    ready: Callable[[], bool] | None = None


class Metrics:
    """Every tracewatch metric, registered in `registry` (a new one unless given)."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.state = PipelineState()
        self.lifecycles = Counter(
            "tracewatch_lifecycles", "Lifecycles emitted, by root span name and outcome.",
            ["kind", "outcome"], registry=r)
        self.spans_emitted = Counter(
            "tracewatch_spans_emitted", "Spans emitted by the engine, before sampling.",
            registry=r)
        self.spans_sampled_out = Counter(
            "tracewatch_spans_sampled_out", "Spans left out by whole-trace sampling.",
            registry=r)
        self.export_duration = Histogram(
            "tracewatch_export_duration_seconds", "Time taken by one export call, by result.",
            ["result"], buckets=EXPORT_BUCKETS, registry=r)
        self.loop_lag = Gauge(
            "tracewatch_event_loop_lag_seconds",
            "How late the event loop ran a timer, at the last measurement.", registry=r)
        self.pod_startup = Histogram(
            "tracewatch_pod_startup_duration_seconds",
            "Pod startup (k8s.CreatePod: creation to Ready) of pods that became Ready.",
            buckets=STARTUP_BUCKETS, registry=r)
        self.pod_phase = Histogram(
            "tracewatch_pod_startup_phase_duration_seconds",
            "Phases of pod startups that completed: scheduling, image_pull, container_start, "
            "readiness.", ["phase"], buckets=PHASE_BUCKETS, registry=r)
        self.rollout = Histogram(
            "tracewatch_rollout_duration_seconds", "Completed rollouts, by workload kind.",
            ["kind"], buckets=ROLLOUT_BUCKETS, registry=r)
        self._phase_children = {p: self.pod_phase.labels(p) for p in PHASES.values()}
        self._export_children = {res: self.export_duration.labels(res.value)
                                 for res in ExportResult}
        r.register(_PipelineCollector(self.state))
        ProcessCollector(registry=r)

    def record_export(self, result: ExportResult, spans: int, seconds: float) -> None:
        """An export call finished (the export queue's observer)."""
        del spans
        self._export_children[result].observe(seconds)

    def observe_emitted(
        self, spans: Sequence[SpanRecord], *, kept_trace_ids: Collection[bytes], sampled_out: int
    ) -> None:
        """One pass over what the engine emitted in one step (whole lifecycles)."""
        if not spans:
            return
        self.spans_emitted.inc(len(spans))
        if sampled_out:
            self.spans_sampled_out.inc(sampled_out)
        phases: list[tuple[str, SpanRecord]] = []
        completed: set[bytes] = set()
        for s in spans:
            phase = PHASES.get(s.name)
            if phase is not None:
                phases.append((phase, s))
                continue
            if not s.name.startswith("k8s."):
                continue
            outcome = s.attribute(_OUTCOME)
            if not isinstance(outcome, str):
                continue
            self.lifecycles.labels(s.name, outcome).inc()
            if outcome != _COMPLETED:
                continue
            completed.add(s.trace_id)
            exemplar = _exemplar(s, kept_trace_ids)
            seconds = (s.end_ns - s.start_ns) * _NS
            if s.name == STARTUP_ROOT:
                self.pod_startup.observe(seconds, exemplar)
            elif s.name in ROLLOUTS:
                self.rollout.labels(ROLLOUTS[s.name]).observe(seconds, exemplar)
        # Phases count only for startups that completed: a cut-short pull is not a pull time.
        for phase, s in phases:
            if s.trace_id in completed:
                self._phase_children[phase].observe(
                    (s.end_ns - s.start_ns) * _NS, _exemplar(s, kept_trace_ids))


def _exemplar(span: SpanRecord, kept: Collection[bytes]) -> dict[str, str] | None:
    return {"trace_id": span.trace_id.hex()} if span.trace_id in kept else None


class _PipelineCollector(Collector):
    """Reads the pipeline's plain counters at scrape time."""

    def __init__(self, state: PipelineState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        state = self._state
        yield from self._informer_metrics(state.informers)
        observed = CounterMetricFamily(
            "tracewatch_observations", "Object changes received from the API server.",
            labels=["resource", "type"])
        for (resource, change), n in sorted(state.observations.items()):
            observed.add_metric([resource, change], n)
        yield observed
        if state.queue is not None:
            yield from _queue_metrics(state.queue)
        if state.engine is not None:
            yield GaugeMetricFamily(
                "tracewatch_lifecycles_in_progress",
                "Lifecycles started and not yet emitted.", value=state.engine.tracked)
            yield _by_label(
                "tracewatch_engine_counts",
                "What the engine counted, by name: observations.invalid (objects it could not "
                "use, skipped), observations.failed and advances.failed (faults, skipped and "
                "logged), events.late (Events for objects already traced), "
                "trace_context.invalid (unparsable trace-context annotations), "
                "lifecycles.<kind>.<outcome>, lifecycles.skipped_history, lifecycles.rehomed.",
                "counter", state.engine.counters)
        if state.ready is not None:
            yield GaugeMetricFamily(
                "tracewatch_ready", "1 when every informer has listed and none fails auth.",
                value=1 if state.ready() else 0)

    @staticmethod
    def _informer_metrics(informers: Iterable[Informer]) -> Iterator[Metric]:
        labels = ["resource", "namespace"]
        relists = CounterMetricFamily(
            "tracewatch_relists", "Relists after the watch history expired (410).", labels=labels)
        restarts = CounterMetricFamily(
            "tracewatch_watch_restarts", "Watch streams restarted, by reason.",
            labels=[*labels, "reason"])
        decode = CounterMetricFamily(
            "tracewatch_decode_errors", "Objects or lines that could not be decoded (skipped).",
            labels=labels)
        duplicates = CounterMetricFamily(
            "tracewatch_duplicate_observations",
            "Changes received again at a version already processed (ignored).", labels=labels)
        synced = GaugeMetricFamily(
            "tracewatch_informer_synced", "1 once the informer's first list is delivered.",
            labels=labels)
        auth = GaugeMetricFamily(
            "tracewatch_informer_auth_failing", "1 while the API server answers 401/403.",
            labels=labels)
        for informer in informers:
            key = [informer.resource.name, informer.namespace or ""]
            stats = informer.stats
            relists.add_metric(key, stats.relists)
            decode.add_metric(key, stats.decode_errors)
            duplicates.add_metric(key, stats.duplicates)
            for reason, n in sorted(stats.restarts.items()):
                restarts.add_metric([*key, reason], n)
            synced.add_metric(key, 1 if informer.has_synced else 0)
            auth.add_metric(key, 1 if informer.auth_failing else 0)
        yield from (relists, restarts, decode, duplicates, synced, auth)


def _queue_metrics(queue: ExportQueue) -> Iterator[Metric]:
    stats = queue.stats
    yield GaugeMetricFamily(
        "tracewatch_export_queue_spans", "Spans waiting for export (including a batch in flight).",
        value=queue.depth)
    yield GaugeMetricFamily(
        "tracewatch_export_queue_capacity_spans", "The export queue's bound.",
        value=queue.options.max_spans)
    yield CounterMetricFamily(
        "tracewatch_spans_exported", "Spans the backend accepted.", value=stats.exported)
    yield _by_label("tracewatch_spans_dropped",
                    "Spans lost: overflow (queue full, oldest first), rejected (backend refused "
                    "for good), shutdown (flush deadline passed), standby (not the leader).",
                    "reason", stats.dropped)
    yield _by_label("tracewatch_export_errors", "Failed export calls, by class.",
                    "class", stats.failed_attempts)


def _by_label(name: str, documentation: str, label: str, values: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, n in sorted(values.items()):
        family.add_metric([key], n)
    return family
