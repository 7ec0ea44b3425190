"""Whole-trace sampling: slow and failed lifecycles always kept, a fixed ratio of the rest."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased

from tracewatch.core.spans import SpanRecord
from tracewatch.export.sampling import Decision, SamplingPolicy, decide, keeps_trace_id, sample

from .builders import MS, span

SECOND_MS = 1000


def lifecycle(
    trace_id: bytes, *, outcome: str = "completed", duration_ms: float = 3 * SECOND_MS,
    parent: int | None = None, first_id: int = 1,
) -> list[SpanRecord]:
    """A three-span lifecycle in emission order (children first, root last)."""
    root = first_id
    return [
        span("scheduler.SchedulePod", span_id=root + 1, parent=root, trace_id=trace_id,
             end_ms=10),
        span("kubelet.StartPod", span_id=root + 2, parent=root, trace_id=trace_id,
             start_ms=10, end_ms=duration_ms),
        span("k8s.CreatePod", span_id=root, parent=parent, trace_id=trace_id,
             service="kubernetes", end_ms=duration_ms,
             attributes=(("tracewatch.outcome", outcome),)),
    ]


def trace_ids(n: int, *, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(16) for _ in range(n)]


def test_ratio_one_keeps_everything_untouched() -> None:
    """The default policy passes every span through in order and drops nothing."""
    spans = lifecycle(trace_ids(1)[0]) + lifecycle(trace_ids(2)[1])
    result = sample(spans, policy=SamplingPolicy())
    assert result.kept == spans
    assert result.dropped_spans == 0


def test_ratio_zero_drops_ordinary_but_keeps_slow_and_failed() -> None:
    """At ratio 0 only lifecycles over the threshold or failed/timed out survive, whole."""
    ordinary, slow, failed, timed_out, deleted = trace_ids(5)
    policy = SamplingPolicy(ratio=0.0, keep_slower_than_ns=30 * SECOND_MS * MS)
    spans = (
        lifecycle(ordinary)
        + lifecycle(slow, duration_ms=31 * SECOND_MS)
        + lifecycle(failed, outcome="failed")
        + lifecycle(timed_out, outcome="timed_out")
        + lifecycle(deleted, outcome="deleted")
    )
    result = sample(spans, policy=policy)
    kept_traces = {s.trace_id for s in result.kept}
    assert kept_traces == {slow, failed, timed_out}
    assert result.kept_trace_ids == kept_traces
    assert result.dropped_spans == 6
    # Children follow their root: every kept trace arrives complete.
    for trace in kept_traces:
        assert sum(1 for s in result.kept if s.trace_id == trace) == 3


def test_exactly_at_the_threshold_is_not_slow() -> None:
    """"Slower than" is strict: a lifecycle lasting exactly the threshold is ordinary."""
    policy = SamplingPolicy(ratio=0.0, keep_slower_than_ns=3 * SECOND_MS * MS)
    root = lifecycle(trace_ids(1)[0], duration_ms=3 * SECOND_MS)[-1]
    assert decide(root, policy=policy) is Decision.DROP
    longer = lifecycle(trace_ids(1)[0], duration_ms=3 * SECOND_MS + 1)[-1]
    assert decide(longer, policy=policy) is Decision.KEEP_SLOW


def test_ratio_decision_matches_opentelemetry_trace_id_ratio_sampler() -> None:
    """Our per-trace-id rule is OpenTelemetry's TraceIdRatioBased, so other samplers agree."""
    for ratio in (0.01, 0.25, 0.5, 0.9):
        otel = TraceIdRatioBased(ratio)
        for trace_id in trace_ids(500, seed=int(ratio * 100)):
            expected = otel.should_sample(None, int.from_bytes(trace_id, "big"), "x")
            assert keeps_trace_id(trace_id, ratio=ratio) is expected.decision.is_sampled()


def test_ratio_is_close_to_asked_and_nested_across_ratios() -> None:
    """About `ratio` of traces are kept, and a trace kept at a low ratio is kept at a higher one."""
    ids = trace_ids(20_000)
    low = {t for t in ids if keeps_trace_id(t, ratio=0.1)}
    high = {t for t in ids if keeps_trace_id(t, ratio=0.5)}
    assert 0.09 < len(low) / len(ids) < 0.11
    assert 0.48 < len(high) / len(ids) < 0.52
    assert low <= high


def test_decisions_are_deterministic_across_replicas() -> None:
    """Two independent samplings of the same lifecycles keep exactly the same spans."""
    spans = [s for t in trace_ids(200) for s in lifecycle(t)]
    policy = SamplingPolicy(ratio=0.3)
    first = sample(spans, policy=policy)
    second = sample(list(spans), policy=SamplingPolicy(ratio=0.3))
    assert first.kept == second.kept
    assert 0 < len(first.kept) < len(spans)


def test_nested_lifecycle_is_decided_by_its_own_root() -> None:
    """A lifecycle under an owner's span (parent not emitted) is judged by its own root."""
    owner_trace = trace_ids(1, seed=3)[0]
    failed_child = lifecycle(owner_trace, outcome="failed", parent=900, first_id=10)
    result = sample(failed_child, policy=SamplingPolicy(ratio=0.0))
    assert result.kept == failed_child


def test_two_lifecycles_of_one_trace_in_one_step_are_decided_separately() -> None:
    """A failed pod and an ordinary sibling emitted together: only the failed one is kept."""
    trace = trace_ids(1, seed=5)[0]
    ordinary = lifecycle(trace, parent=900, first_id=10)
    failed = lifecycle(trace, outcome="failed", parent=900, first_id=20)
    result = sample(ordinary + failed, policy=SamplingPolicy(ratio=0.0))
    assert result.kept == failed
    assert result.dropped_spans == len(ordinary)


def test_policy_rejects_ratio_outside_zero_one() -> None:
    """A ratio outside [0, 1] is a programming error caught at construction."""
    with pytest.raises(ValueError, match="between 0 and 1"):
        SamplingPolicy(ratio=1.5)
