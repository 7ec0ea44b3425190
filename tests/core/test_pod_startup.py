"""Pod startup traces from hand-made observation sequences (no I/O, no clock)."""

from __future__ import annotations

from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change
from tracewatch.core.spans import SpanRecord

from . import builders
from .builders import MS, T0, PodStory, kubelet_event, obs, scheduler_event


def _by_name(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    out = {s.name: s for s in spans}
    assert len(out) == len(spans), "span names unique in these single-container cases"
    return out


def _ms(ns: int) -> float:
    return (ns - T0) / MS


def _live_startup(engine: Engine, *, events_first: bool = False) -> list[SpanRecord]:
    """Feed the canonical live startup: create, schedule, sandbox, pull, start, ready."""
    story = PodStory(created_ns=T0 + 200 * MS)
    emitted: list[SpanRecord] = []
    pod_steps = [
        (T0 + 205 * MS, story.snapshot(), Change.ADDED),
        (T0 + 355 * MS, story.schedule(T0 + 350 * MS), Change.MODIFIED),
        (
            T0 + 705 * MS,
            story.condition("PodReadyToStartContainers", T0 + 700 * MS),
            Change.MODIFIED,
        ),
        (T0 + 2005 * MS, story.started("app", T0 + 2000 * MS), Change.MODIFIED),
        (T0 + 2405 * MS, story.condition("Ready", T0 + 2400 * MS), Change.MODIFIED),
    ]
    events = [
        (T0 + 360 * MS, scheduler_event(at_ns=T0 + 351 * MS)),
        (
            T0 + 712 * MS,
            kubelet_event(
                reason="Pulling", message='Pulling image "nginx:1.25"', at_ns=T0 + 710 * MS
            ),
        ),
        (
            T0 + 1902 * MS,
            kubelet_event(
                reason="Pulled", message="Successfully pulled image", at_ns=T0 + 1900 * MS
            ),
        ),
        (T0 + 2003 * MS, kubelet_event(reason="Started", at_ns=T0 + 2000 * MS)),
    ]
    if events_first:
        for at, ev in events:
            emitted += engine.observe(obs(at, ev))
        for at, pod, change in pod_steps:
            emitted += engine.observe(obs(at + 10 * MS, pod, change))
    else:
        merged = [(at, o, Change.MODIFIED) for at, o in events] + pod_steps
        for at, o, change in sorted(merged, key=lambda x: x[0]):
            emitted += engine.observe(obs(at, o, change))
    return emitted


def test_trace_waits_for_settle_delay_then_emits_whole_tree() -> None:
    """Nothing is emitted until the settle delay after Ready has passed; then the whole tree is."""
    engine = Engine(options=EngineOptions(settle_delay_ns=1000 * MS))
    assert _live_startup(engine) == []
    assert engine.advance(T0 + 3000 * MS) == []
    spans = engine.advance(T0 + 3500 * MS)
    assert {s.name for s in spans} == {
        "k8s.CreatePod",
        "scheduler.SchedulePod",
        "kubelet.StartPod",
        "kubelet.CreateSandbox",
        "kubelet.PullImage",
        "kubelet.StartContainer",
        "kubelet.WaitReady",
    }
    assert engine.tracked == 0


def test_live_startup_phases_match_what_happened() -> None:
    """Each phase's bounds come from the most precise source: eventTime, event names, receipts."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    spans = _by_name(_live_startup(engine) + engine.advance(T0 + 10_000 * MS))
    expected = {
        "k8s.CreatePod": (205, 2405),
        "scheduler.SchedulePod": (205, 351),
        "kubelet.StartPod": (351, 2405),
        "kubelet.CreateSandbox": (351, 705),
        "kubelet.PullImage": (710, 1900),
        "kubelet.StartContainer": (1900, 2000),
        "kubelet.WaitReady": (2000, 2405),
    }
    for name, (start, end) in expected.items():
        span = spans[name]
        assert (round(_ms(span.start_ns), 3), round(_ms(span.end_ns), 3)) == (start, end), name
    assert spans["scheduler.SchedulePod"].attribute("tracewatch.time_source") == "watch,event_time"
    assert spans["kubelet.PullImage"].attribute("tracewatch.time_source") == "event_name"


def test_tree_shape_services_and_attributes() -> None:
    """Parentage follows the span model, service.name is the component, k8s.* attributes are set."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    spans = _by_name(_live_startup(engine) + engine.advance(T0 + 10_000 * MS))
    root = spans["k8s.CreatePod"]
    assert root.is_root and root.service == "kubernetes"
    assert root.attribute("tracewatch.outcome") == "completed"
    assert root.attribute("k8s.pod.name") == "web-1"
    assert root.attribute("k8s.namespace.name") == "default"
    assert root.attribute("k8s.node.name") == "node-1"
    assert root.attribute("container.image.name") == ("nginx:1.25",)
    start_pod = spans["kubelet.StartPod"]
    assert spans["scheduler.SchedulePod"].parent_span_id == root.span_id
    assert spans["scheduler.SchedulePod"].service == "kube-scheduler"
    assert start_pod.parent_span_id == root.span_id
    for child in (
        "kubelet.CreateSandbox",
        "kubelet.PullImage",
        "kubelet.StartContainer",
        "kubelet.WaitReady",
    ):
        assert spans[child].parent_span_id == start_pod.span_id, child
        assert spans[child].service == "kubelet"
    assert {s.trace_id for s in spans.values()} == {root.trace_id}
    assert spans["kubelet.StartContainer"].attribute("container.image.name") == "nginx:1.25"
    assert spans["kubelet.StartContainer"].attribute("tracewatch.image.cached") is False


def test_ids_are_deterministic() -> None:
    """The same lifecycle fed twice, in a different order, yields the same trace and span ids."""
    first = Engine(options=EngineOptions(settle_delay_ns=0))
    second = Engine(options=EngineOptions(settle_delay_ns=0))
    a = _live_startup(first) + first.advance(T0 + 10_000 * MS)
    b = _live_startup(second, events_first=True) + second.advance(T0 + 10_000 * MS)
    assert sorted((s.name, s.trace_id, s.span_id) for s in a) == sorted(
        (s.name, s.trace_id, s.span_id) for s in b
    )


def test_events_arriving_before_the_pod_are_kept_and_joined() -> None:
    """Events delivered before the pod they name are held and joined by involvedObject.uid."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    spans = _by_name(_live_startup(engine, events_first=True) + engine.advance(T0 + 10_000 * MS))
    assert (_ms(spans["kubelet.PullImage"].start_ns), _ms(spans["kubelet.PullImage"].end_ns)) == (
        710,
        1900,
    )
    assert _ms(spans["scheduler.SchedulePod"].end_ns) == 351


def test_cached_image_has_no_pull_span() -> None:
    """An image already present on the node yields no PullImage span and cached=True."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    out: list[SpanRecord] = []
    story = PodStory(created_ns=T0)
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    out += engine.observe(obs(T0 + 100 * MS, story.schedule(T0 + 100 * MS)))
    out += engine.observe(obs(T0 + 300 * MS, story.condition("PodReadyToStartContainers", T0)))
    out += engine.observe(
        obs(
            T0 + 310 * MS,
            kubelet_event(
                reason="Pulled",
                message='Container image "nginx:1.25" already present on machine',
                at_ns=T0 + 305 * MS,
            ),
        )
    )
    out += engine.observe(obs(T0 + 400 * MS, story.started("app", T0 + 400 * MS)))
    out += engine.observe(obs(T0 + 500 * MS, story.condition("Ready", T0 + 500 * MS)))
    spans = _by_name(out + engine.advance(T0 + 1000 * MS))
    assert "kubelet.PullImage" not in spans
    start = spans["kubelet.StartContainer"]
    assert start.attribute("tracewatch.image.cached") is True
    assert (_ms(start.start_ns), _ms(start.end_ns)) == (305, 400)


def test_pod_created_bound_has_no_scheduling_span() -> None:
    """A pod created with spec.nodeName set was never scheduled: no SchedulePod span."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    out: list[SpanRecord] = []
    story = PodStory(created_ns=T0, node="node-2")
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    out += engine.observe(obs(T0 + 50 * MS, story.condition("PodScheduled", T0)))
    out += engine.observe(obs(T0 + 400 * MS, story.started("app", T0 + 400 * MS)))
    out += engine.observe(obs(T0 + 500 * MS, story.condition("Ready", T0 + 500 * MS)))
    spans = _by_name(out + engine.advance(T0 + 1000 * MS))
    assert "scheduler.SchedulePod" not in spans
    assert spans["kubelet.StartPod"].start_ns == spans["k8s.CreatePod"].start_ns
    assert spans["k8s.CreatePod"].attribute("k8s.node.name") == "node-2"


def test_deleted_before_scheduled() -> None:
    """A pod deleted while still pending ends its startup trace with outcome deleted."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    out: list[SpanRecord] = []
    story = PodStory(created_ns=T0)
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    out += engine.observe(obs(T0 + 900 * MS, story.snapshot(), Change.DELETED))
    spans = out + engine.advance(T0 + 1000 * MS)
    assert [s.name for s in spans] == ["k8s.CreatePod"]
    assert spans[0].attribute("tracewatch.outcome") == "deleted"
    assert _ms(spans[0].end_ns) == 900


def test_image_pull_failure_ends_startup_as_failed() -> None:
    """ErrImagePull ends the startup with outcome failed, an error status and the reason."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    out: list[SpanRecord] = []
    story = PodStory(created_ns=T0)
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    out += engine.observe(obs(T0 + 100 * MS, story.schedule(T0 + 100 * MS)))
    out += engine.observe(obs(T0 + 700 * MS, story.waiting("app", "ErrImagePull")))
    root = _by_name(out + engine.advance(T0 + 1000 * MS))["k8s.CreatePod"]
    assert root.attribute("tracewatch.outcome") == "failed"
    assert root.attribute("tracewatch.reason") == "ErrImagePull"
    assert root.status.name == "ERROR"


def test_lifecycle_that_never_finishes_times_out() -> None:
    """A pod that stays Pending past the lifecycle limit is emitted as timed_out."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0, lifecycle_timeout_ns=60_000 * MS))
    out: list[SpanRecord] = []
    story = PodStory(created_ns=T0)
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    assert out + engine.advance(T0 + 59_000 * MS) == []
    spans = engine.advance(T0 + 61_000 * MS)
    assert [s.attribute("tracewatch.outcome") for s in spans] == ["timed_out"]
    assert spans[0].end_ns == T0 + 5 * MS + 60_000 * MS


def test_later_updates_of_a_finished_pod_emit_nothing() -> None:
    """Once emitted, further updates of the same pod never emit its startup again."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    assert _live_startup(engine) + engine.advance(T0 + 10_000 * MS)
    story = PodStory(created_ns=T0 + 200 * MS)
    assert engine.observe(obs(T0 + 20_000 * MS, story.condition("Ready", T0 + 20_000 * MS))) == []
    assert engine.observe(obs(T0 + 21_000 * MS, kubelet_event(reason="Killing", at_ns=T0))) == []
    assert engine.counters["events.late"] == 1


def test_backfill_window() -> None:
    """Pods found already started emit only if they finished within the back-fill look-back."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0, backfill_ns=600_000 * MS))
    out: list[SpanRecord] = []
    now = T0 + 3_600_000 * MS
    old = PodStory(created_ns=T0, uid="old")
    old.schedule(T0)
    old.started("app", T0 + 1000 * MS)
    recent = PodStory(created_ns=now - 60_000 * MS, uid="recent")
    recent.schedule(now - 60_000 * MS)
    recent.started("app", now - 59_000 * MS)
    out += engine.observe(obs(now, old.condition("Ready", T0 + 2000 * MS), Change.ADDED))
    out += engine.observe(obs(now, recent.condition("Ready", now - 58_000 * MS), Change.ADDED))
    spans = out + engine.advance(now + 1000 * MS)
    assert {s.attribute("k8s.pod.uid") for s in spans} == {"recent"}
    root = next(s for s in spans if s.is_root)
    assert root.attribute("tracewatch.time_source") == "server"
    assert engine.counters["lifecycles.skipped_history"] == 1


def test_pod_ready_before_the_backfill_window_opens_no_lifecycle() -> None:
    """An idle pod listed long after it became Ready is settled at once (no open lifecycle,
    counted as skipped history), yet its later deletion is still traced."""
    engine = Engine(options=EngineOptions(backfill_ns=600_000 * MS))
    now = T0 + 3_600_000 * MS
    story = PodStory(created_ns=T0)
    story.schedule(T0)
    story.started("app", T0 + 1000 * MS)
    idle = story.condition("Ready", T0 + 2000 * MS)
    assert engine.observe(obs(now, idle, Change.ADDED)) == []
    assert engine.tracked == 0
    assert engine.counters["lifecycles.skipped_history"] == 1
    assert engine.emitted_lifecycles() == {(idle.metadata.uid, "create")}
    story.obj["metadata"]["deletionTimestamp"] = builders.ts(now + 30_000 * MS)
    story.obj["metadata"]["deletionGracePeriodSeconds"] = 30
    engine.observe(obs(now + 10 * MS, story.snapshot()))
    spans = engine.observe(obs(now + 20 * MS, story.snapshot(), Change.DELETED))
    spans += engine.advance(now + 5000 * MS)
    assert [s.name for s in spans if s.is_root] == ["k8s.DeletePod"]
    assert engine.tracked == 0


def test_an_event_deleted_is_not_a_new_occurrence() -> None:
    """An Event's DELETED (its TTL ran out, or a cleanup) adds nothing: it happened once."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    story = PodStory(created_ns=T0)
    failed = scheduler_event(reason="FailedScheduling", message="0/3 nodes are available",
                             at_ns=T0 + 40 * MS)
    out: list[SpanRecord] = []
    out += engine.observe(obs(T0 + 5 * MS, story.snapshot(), Change.ADDED))
    out += engine.observe(obs(T0 + 50 * MS, failed, Change.ADDED))
    out += engine.observe(obs(T0 + 60 * MS, failed, Change.DELETED))
    out += engine.observe(obs(T0 + 70 * MS, failed, Change.RELISTED_GONE))
    out += engine.observe(obs(T0 + 5_060 * MS, story.schedule(T0 + 5_045 * MS)))
    out += engine.observe(obs(T0 + 6_000 * MS, story.started("app", T0 + 6_000 * MS)))
    out += engine.observe(obs(T0 + 6_500 * MS, story.condition("Ready", T0 + 6_500 * MS)))
    schedule = _by_name(out + engine.advance(T0 + 10_000 * MS))["scheduler.SchedulePod"]
    assert [(e.name, (e.time_ns - T0) // MS) for e in schedule.events] == [("FailedScheduling", 40)]


def test_container_events_land_on_the_container_their_field_path_names() -> None:
    """Pull Events of two containers (and of a second pod with the same containers) time each
    container's own PullImage span, by the container named in the Event's fieldPath."""
    engine = Engine(options=EngineOptions(settle_delay_ns=0))
    spans: list[SpanRecord] = []
    containers = (("app", "nginx:1.25"), ("sidecar", "envoy:1.30"))
    for n, uid in enumerate(("uid-a", "uid-b")):
        base = T0 + n * 10_000 * MS
        name = f"web-{n}"
        story = PodStory(created_ns=base, uid=uid, name=name, containers=containers)
        spans += engine.observe(obs(base + 5 * MS, story.snapshot(), Change.ADDED))
        spans += engine.observe(obs(base + 105 * MS, story.schedule(base + 100 * MS)))
        # The sidecar's pull is timed after the app's, and runs longer.
        for container, (start, end) in (("app", (200, 900)), ("sidecar", (300, 1700))):
            for reason, at in (("Pulling", start), ("Pulled", end)):
                event = kubelet_event(
                    pod_name=name, uid=uid, reason=reason, container=container,
                    at_ns=base + at * MS,
                )
                spans += engine.observe(obs(base + (at + 2) * MS, event))
        spans += engine.observe(obs(base + 2005 * MS, story.condition("Ready", base + 2000 * MS)))
    spans += engine.advance(T0 + 60_000 * MS)
    pulls = {
        (s.attribute("k8s.pod.name"), s.attribute("k8s.container.name")): s
        for s in spans
        if s.name == "kubelet.PullImage"
    }
    assert len(pulls) == 4
    for n in range(2):
        base = T0 + n * 10_000 * MS
        for container, (start, end) in (("app", (200, 900)), ("sidecar", (300, 1700))):
            span = pulls[(f"web-{n}", container)]
            assert (span.start_ns, span.end_ns) == (base + start * MS, base + end * MS)
            assert span.attribute("container.image.name") == dict(containers)[container]
