"""Per-object state stays compact and bounded: idle pods cost a set entry, not a history."""

from __future__ import annotations

import gc
import tracemalloc

import msgspec

from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Pod

from .builders import MS, T0, PodStory

PODS = 100_000


def _ready_pod() -> Pod:
    story = PodStory(created_ns=T0)
    story.schedule(T0 + 100 * MS)
    story.started("app", T0 + 500 * MS)
    return story.condition("Ready", T0 + 900 * MS)


def test_idle_pods_do_not_grow_state_per_event() -> None:
    """100k Running pods held; a round of status updates on all of them allocates nothing
    that stays, and the engine keeps no open lifecycle for any of them."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0, backfill_ns=0))
    template = _ready_pod()
    pods = [
        msgspec.structs.replace(
            template, metadata=msgspec.structs.replace(template.metadata, uid=f"uid-{i:06d}")
        )
        for i in range(PODS)
    ]
    now = T0 + 3_600_000 * MS
    for pod in pods:
        engine.observe(
            Observation(observed_at_ns=now, change=Change.ADDED, resource="pods", obj=pod)
        )
    engine.advance(now + MS)
    assert engine.tracked == 0
    assert engine.counters["lifecycles.skipped_history"] == PODS

    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    for round_ in range(2):
        for pod in pods:
            engine.observe(
                Observation(
                    observed_at_ns=now + (round_ + 2) * MS,
                    change=Change.MODIFIED,
                    resource="pods",
                    obj=pod,
                )
            )
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert engine.tracked == 0
    # Two full rounds of events over 100k pods: growth must not scale with the events.
    assert after - before < 64 * 1024, after - before


def test_deleted_pods_release_everything() -> None:
    """Once a pod is gone and its lifecycles are emitted, the engine keeps nothing for it."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0, backfill_ns=0))
    pod = _ready_pod()
    now = T0 + 3_600_000 * MS
    engine.observe(Observation(observed_at_ns=now, change=Change.ADDED, resource="pods", obj=pod))
    engine.advance(now + MS)
    assert engine.emitted_lifecycles() == {(pod.metadata.uid, "create")}
    engine.observe(
        Observation(observed_at_ns=now + 2 * MS, change=Change.DELETED, resource="pods", obj=pod)
    )
    engine.advance(now + 10 * MS)
    assert engine.emitted_lifecycles() == set()
    assert engine.tracked == 0
