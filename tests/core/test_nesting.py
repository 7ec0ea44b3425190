"""Nesting a child's spans inside its owner's: the owner's bounds, the fit, the clamp."""

from __future__ import annotations

from tracewatch.core.clock import Instant
from tracewatch.core.lifecycle import Lifecycle
from tracewatch.core.nesting import clamp, fits, owner_bounds
from tracewatch.core.spans import Outcome, SpanEvent, SpanRecord, TimeSource


def _lifecycle(start: int, end: int | None, outcome: Outcome | None = None) -> Lifecycle:
    lc = Lifecycle(kind="ReplicaSet", key="gen-1", uid="u", namespace="ns", name="rs",
                   start=Instant(start, TimeSource.WATCH, start - 5, start), first_seen_ns=start)
    if end is not None and outcome is not None:
        lc.finish(Instant(end, TimeSource.WATCH, end - 5, end), outcome)
    return lc


def test_an_owner_that_completed_stretches_one_cut_short_does_not() -> None:
    """A completed owner has no ceiling (it covers its children); a superseded one ends at
    its end, and its floor is the earliest its start may be."""
    assert owner_bounds(_lifecycle(100, 200, Outcome.COMPLETED)) == (95, None)
    assert owner_bounds(_lifecycle(100, 200, Outcome.SUPERSEDED)) == (95, 200)


def test_a_child_fits_a_cut_short_owner_only_within_its_bounds() -> None:
    """Inside the superseded owner's [95, 200] a child fits; one ending after 200 does not."""
    owner = _lifecycle(100, 200, Outcome.SUPERSEDED)
    assert fits(_lifecycle(120, 180, Outcome.COMPLETED), owner)
    assert not fits(_lifecycle(120, 260, Outcome.COMPLETED), owner)


def test_clamp_moves_a_span_and_its_events_inside() -> None:
    """A span reaching past the bounds is cut to them, its events with it; one inside is
    returned as it is."""
    span = SpanRecord(b"t" * 16, b"s" * 8, b"", "x", "svc", 50, 300,
                      events=(SpanEvent(40, "early"), SpanEvent(150, "inside")))
    moved = clamp(span, 100, 200)
    assert (moved.start_ns, moved.end_ns) == (100, 200)
    assert [e.time_ns for e in moved.events] == [100, 150]
    assert clamp(moved, 100, 200) is moved
