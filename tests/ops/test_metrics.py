"""Metrics: emitted traces feed counters and histograms with exemplars; stats are read at scrape."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult
from tracewatch.export.queue import ExportQueue, QueueOptions
from tracewatch.kube.informer import Informer
from tracewatch.ops.metrics import Metrics

from ..export.builders import OTHER_TRACE, TRACE, pod_startup, span


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the Prometheus text exposition, keyed by name and sorted labels."""
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def failed_startup(trace_id: bytes) -> list[SpanRecord]:
    return [
        span("kubelet.PullImage", span_id=4, parent=1, trace_id=trace_id, end_ms=900),
        span("k8s.CreatePod", span_id=1, trace_id=trace_id, service="kubernetes", end_ms=1000,
             attributes=(("tracewatch.outcome", "failed"),)),
    ]


class NullExporter:
    async def export(self, spans: object) -> ExportResult:
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        return None


def test_completed_startup_feeds_lifecycles_and_histograms() -> None:
    """A completed pod startup counts once and lands in the startup and phase histograms."""
    metrics = Metrics()
    trace = pod_startup()
    metrics.observe_emitted(trace, kept_trace_ids={TRACE}, sampled_out=0)
    got = samples(metrics)
    assert got[("tracewatch_lifecycles_total",
                (("kind", "k8s.CreatePod"), ("outcome", "completed")))] == 1
    assert got[("tracewatch_spans_emitted_total", ())] == len(trace)
    assert got[("tracewatch_pod_startup_duration_seconds_count", ())] == 1
    assert abs(got[("tracewatch_pod_startup_duration_seconds_sum", ())] - 3.21) < 1e-9
    assert got[("tracewatch_pod_startup_duration_seconds_bucket", (("le", "5.0"),))] == 1
    assert got[("tracewatch_pod_startup_duration_seconds_bucket", (("le", "3.0"),))] == 0
    for phase, seconds in (("scheduling", 0.012), ("image_pull", 2.1),
                           ("container_start", 0.085)):
        key = ("tracewatch_pod_startup_phase_duration_seconds_sum", (("phase", phase),))
        assert abs(got[key] - seconds) < 1e-9, phase
    readiness = ("tracewatch_pod_startup_phase_duration_seconds_count", (("phase", "readiness"),))
    assert got[readiness] == 0  # this trace has no WaitReady span


def test_failed_startup_is_counted_but_not_timed() -> None:
    """A failed lifecycle counts by outcome; its phases stay out of the startup histograms."""
    metrics = Metrics()
    metrics.observe_emitted(failed_startup(OTHER_TRACE), kept_trace_ids={OTHER_TRACE},
                            sampled_out=0)
    got = samples(metrics)
    assert got[("tracewatch_lifecycles_total",
                (("kind", "k8s.CreatePod"), ("outcome", "failed")))] == 1
    assert got[("tracewatch_pod_startup_duration_seconds_count", ())] == 0
    assert got[("tracewatch_pod_startup_phase_duration_seconds_count",
                (("phase", "image_pull"),))] == 0


def test_rollouts_are_timed_by_workload_kind() -> None:
    """A completed k8s.RolloutDeployment root lands in the rollout histogram as deployment."""
    metrics = Metrics()
    rollout = span("k8s.RolloutDeployment", span_id=1, end_ms=42_000, service="kcm",
                   attributes=(("tracewatch.outcome", "completed"),))
    metrics.observe_emitted([rollout], kept_trace_ids={TRACE}, sampled_out=0)
    got = samples(metrics)
    assert got[("tracewatch_rollout_duration_seconds_count", (("kind", "deployment"),))] == 1
    assert got[("tracewatch_rollout_duration_seconds_sum", (("kind", "deployment"),))] == 42


def test_exemplars_carry_the_trace_id_only_for_kept_traces() -> None:
    """OpenMetrics shows the trace id as exemplar for kept traces, none for sampled-out ones."""
    metrics = Metrics()
    metrics.observe_emitted(pod_startup(TRACE), kept_trace_ids={TRACE}, sampled_out=0)
    dropped = pod_startup(OTHER_TRACE, offset_ms=0)
    metrics.observe_emitted(dropped, kept_trace_ids=set(), sampled_out=len(dropped))
    text = generate_openmetrics(metrics.registry).decode()
    exemplars = [
        s.exemplar
        for family in parse_om(text)
        if family.name == "tracewatch_pod_startup_duration_seconds"
        for s in family.samples
        if s.exemplar is not None
    ]
    assert [e.labels for e in exemplars] == [{"trace_id": TRACE.hex()}]
    assert samples(metrics)[("tracewatch_spans_sampled_out_total", ())] == len(dropped)


def test_informer_and_observation_counters_are_read_at_scrape_time() -> None:
    """Relists, restarts by reason, sync/auth state and observations come from plain counters."""
    metrics = Metrics()
    pods = Informer(connection=None, resource="pods", sink=lambda o: None)  # type: ignore[arg-type]
    events = Informer(connection=None, resource="events", namespace="web",  # type: ignore[arg-type]
                      sink=lambda o: None)
    metrics.state.informers = [pods, events]
    pods.stats.relists = 2
    pods.stats.restarts["gone"] += 3
    events.stats.restarts["forbidden"] += 1
    events.stats.decode_errors = 4
    metrics.state.observations[("pods", "ADDED")] += 5
    metrics.state.observations[("pods", "MODIFIED")] += 7
    got = samples(metrics)
    pod_labels = (("namespace", ""), ("resource", "pods"))
    assert got[("tracewatch_relists_total", pod_labels)] == 2
    assert got[("tracewatch_watch_restarts_total", (*pod_labels[:1], ("reason", "gone"),
                                                    pod_labels[1]))] == 3
    assert got[("tracewatch_watch_restarts_total", (("namespace", "web"), ("reason", "forbidden"),
                                                    ("resource", "events")))] == 1
    assert got[("tracewatch_decode_errors_total",
                (("namespace", "web"), ("resource", "events")))] == 4
    assert got[("tracewatch_informer_synced", pod_labels)] == 0
    assert got[("tracewatch_observations_total", (("resource", "pods"), ("type", "ADDED")))] == 5
    # A later scrape sees later values without anything being re-registered.
    pods.stats.relists = 3
    assert samples(metrics)[("tracewatch_relists_total", pod_labels)] == 3


async def test_queue_depth_drops_and_export_latency() -> None:
    """Queue depth, drops by reason and export-call latency by result appear in the scrape."""
    metrics = Metrics()
    queue = ExportQueue(exporter=NullExporter(), options=QueueOptions(max_spans=4),
                        on_export=metrics.record_export)
    metrics.state.queue = queue
    queue.put(pod_startup())  # five spans into four places
    queue.discard(pod_startup(), reason="standby")
    got = samples(metrics)
    assert got[("tracewatch_export_queue_spans", ())] == 4
    assert got[("tracewatch_export_queue_capacity_spans", ())] == 4
    assert got[("tracewatch_spans_dropped_total", (("reason", "overflow"),))] == 1
    assert got[("tracewatch_spans_dropped_total", (("reason", "standby"),))] == 5
    assert await queue.flush(timeout_s=1)
    got = samples(metrics)
    assert got[("tracewatch_spans_exported_total", ())] == 4
    assert got[("tracewatch_export_duration_seconds_count", (("result", "success"),))] == 1
    assert got[("tracewatch_export_queue_spans", ())] == 0


def test_registries_are_separate_per_pipeline() -> None:
    """Two Metrics objects do not share counters (tests and replicas do not collide)."""
    first, second = Metrics(), Metrics()
    first.observe_emitted(pod_startup(), kept_trace_ids=set(), sampled_out=0)
    assert samples(second)[("tracewatch_spans_emitted_total", ())] == 0


def test_engine_counts_are_read_at_scrape_time() -> None:
    """What the engine counts (invalid objects, faults, late Events, ...) is scraped as is."""
    from collections import Counter

    class Engine:
        tracked = 4
        counters = Counter({"observations.invalid": 2, "events.late": 7})

    metrics = Metrics()
    metrics.state.engine = Engine()
    got = samples(metrics)
    assert got[("tracewatch_engine_counts_total", (("counter", "observations.invalid"),))] == 2
    assert got[("tracewatch_engine_counts_total", (("counter", "events.late"),))] == 7
    assert got[("tracewatch_lifecycles_in_progress", ())] == 4
    Engine.counters["observations.invalid"] += 1
    assert samples(metrics)[
        ("tracewatch_engine_counts_total", (("counter", "observations.invalid"),))] == 3
