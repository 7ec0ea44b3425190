"""TraceBuilder: the invariants every kind's spans get from being added through it."""

from __future__ import annotations

from tracewatch.core import ids
from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant
from tracewatch.core.lifecycle import Placement
from tracewatch.core.spans import SpanEvent, TimeSource

TRACE = bytes(range(1, 17))
TOP = ids.span_id(name="k8s.CreatePod", discriminator="uid-1/create/")


def _at(ns: int, source: TimeSource = TimeSource.WATCH) -> Instant:
    return Instant(ns, source)


def _builder(*, floor_ns: int = 0, ceiling_ns: int | None = None) -> TraceBuilder:
    placement = Placement(trace_id=TRACE, parent_span_id=b"", span_id=TOP)
    return TraceBuilder(
        placement=placement, scope="uid-1/create", floor_ns=floor_ns, ceiling_ns=ceiling_ns
    )


def test_children_are_clamped_into_their_parent_and_never_negative() -> None:
    """A child reaching past either end of its parent is cut to it; an inverted one has length 0."""
    b = _builder()
    root = b.top(name="k8s.CreatePod", service="kubernetes", start=_at(100), end=_at(200))
    b.add(name="early", service="kubelet", start=_at(50), end=_at(150), parent=root)
    b.add(name="late", service="kubelet", start=_at(150), end=_at(250), parent=root)
    b.add(name="outside", service="kubelet", start=_at(300), end=_at(400), parent=root)
    b.add(name="inverted", service="kubelet", start=_at(180), end=_at(120), parent=root)
    got = {s.name: (s.start_ns, s.end_ns) for s in b.spans()}
    assert got["early"] == (100, 150)
    assert got["late"] == (150, 200)
    assert got["outside"] == (200, 200)
    assert got["inverted"] == (180, 180)


def test_top_span_stays_within_the_owner_bounds() -> None:
    """The first span is held between the floor and ceiling an owner allows; children follow."""
    b = _builder(floor_ns=120, ceiling_ns=180)
    root = b.top(name="k8s.CreatePod", service="kubernetes", start=_at(100), end=_at(200))
    b.add(name="child", service="kubelet", start=_at(100), end=_at(200), parent=root)
    top, child = b.spans()
    assert (top.start_ns, top.end_ns) == (120, 180)
    assert (child.start_ns, child.end_ns) == (120, 180)


def test_ids_placement_and_time_sources() -> None:
    """The top span takes the placement's id; others get the scoped id and say their sources."""
    b = _builder()
    root = b.top(
        name="k8s.CreatePod",
        service="kubernetes",
        start=_at(100, TimeSource.SERVER),
        end=_at(200),
        attributes=(("k8s.pod.name", "web-1"),),
    )
    child = b.add(
        name="kubelet.PullImage",
        service="kubelet",
        start=_at(110, TimeSource.EVENT_NAME),
        end=_at(120, TimeSource.EVENT_NAME),
        parent=root,
        discriminator="app",
    )
    assert root == TOP
    assert child == ids.span_id(name="kubelet.PullImage", discriminator="uid-1/create/app")
    top, pull = b.spans()
    assert top.attributes == (
        ("k8s.pod.name", "web-1"),
        ("tracewatch.time_source", "server,watch"),
    )
    assert pull.attributes == (("tracewatch.time_source", "event_name"),)
    assert (pull.trace_id, pull.parent_span_id) == (TRACE, root)


def test_events_outside_the_span_are_moved_to_its_edges() -> None:
    """Span events keep their times inside the span, clamped to its start or end."""
    b = _builder()
    events = (SpanEvent(50, "before"), SpanEvent(150, "during"), SpanEvent(250, "after"))
    b.top(name="k8s.CreatePod", service="kubernetes", start=_at(100), end=_at(200), events=events)
    (top,) = b.spans()
    assert [(e.name, e.time_ns) for e in top.events] == [
        ("before", 100),
        ("during", 150),
        ("after", 200),
    ]
