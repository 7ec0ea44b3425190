"""Properties of reconstruction under disorder: any interleaving, duplicates, gaps."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.spans import SpanRecord

from .builders import MS, T0, PodStory, kubelet_event, obs, scheduler_event


def _streams() -> tuple[list[Observation], list[Observation]]:
    """The canonical startup as two streams (pods, events), each in its own order."""
    story = PodStory(created_ns=T0 + 200 * MS)
    pods = [
        obs(T0 + 205 * MS, story.snapshot(), Change.ADDED),
        obs(T0 + 355 * MS, story.schedule(T0 + 350 * MS)),
        obs(T0 + 705 * MS, story.condition("PodReadyToStartContainers", T0 + 700 * MS)),
        obs(T0 + 2005 * MS, story.started("app", T0 + 2000 * MS)),
        obs(T0 + 2405 * MS, story.condition("Ready", T0 + 2400 * MS)),
    ]
    events = [
        obs(T0 + 360 * MS, scheduler_event(at_ns=T0 + 351 * MS)),
        obs(T0 + 712 * MS, kubelet_event(reason="Pulling", at_ns=T0 + 710 * MS)),
        obs(T0 + 1902 * MS, kubelet_event(reason="Pulled", at_ns=T0 + 1900 * MS)),
        obs(T0 + 2003 * MS, kubelet_event(reason="Started", at_ns=T0 + 2000 * MS)),
    ]
    return pods, events


@st.composite
def deliveries(draw: st.DrawFn) -> list[Observation]:
    """Both streams merged in any order that keeps each stream's own order, with duplicates,
    some observations lost (a relist-style gap), and receipt times shifted late."""
    pods, events = _streams()
    keep = [0, *sorted(draw(st.sets(st.integers(1, len(pods) - 1))))]
    pods = [pods[i] for i in keep]
    merged: list[Observation] = []
    while pods or events:
        take_pod = bool(pods) and (not events or draw(st.booleans()))
        item = (pods if take_pod else events).pop(0)
        merged.append(item)
        if draw(st.integers(0, 4)) == 0:
            merged.append(item)  # delivered twice
    delay = draw(st.integers(0, 3000)) * MS
    clock = 0
    out = []
    for o in merged:
        clock = max(clock, o.observed_at_ns + delay)
        out.append(
            Observation(observed_at_ns=clock, change=o.change, resource=o.resource, obj=o.obj)
        )
    return out


def _run(observations: list[Observation]) -> list[SpanRecord]:
    engine = Engine(options=EngineOptions(settle_delay_ns=500 * MS))
    spans: list[SpanRecord] = []
    for o in observations:
        spans += engine.observe(o)
    return spans + engine.advance(T0 + 3_600_000 * MS)


def check_invariants(spans: list[SpanRecord]) -> None:
    """Unique ids, no negative span, every child (and event) inside its parent."""
    by_id = {s.span_id: s for s in spans}
    assert len(by_id) == len(spans), "span ids unique"
    for span in spans:
        assert span.end_ns >= span.start_ns, span.name
        if span.parent_span_id:
            parent = by_id.get(span.parent_span_id)
            if parent is None:
                continue  # a parent outside this batch (a remote context)
            assert parent.start_ns <= span.start_ns <= span.end_ns <= parent.end_ns, span.name
        for event in span.events:
            assert span.start_ns <= event.time_ns <= span.end_ns


REFERENCE = _run([o for pair in zip(*_streams(), strict=False) for o in pair] + [_streams()[0][-1]])


@settings(max_examples=200, deadline=None)
@given(deliveries())
def test_any_delivery_order_keeps_invariants_and_ids(observations: list[Observation]) -> None:
    """No crash, no negative span, no child outside its parent; trace id always the same."""
    spans = _run(observations)
    check_invariants(spans)
    roots = [s for s in spans if s.is_root]
    assert len(roots) == 1
    assert roots[0].trace_id == REFERENCE[0].trace_id
    assert roots[0].span_id == next(s for s in REFERENCE if s.is_root).span_id
