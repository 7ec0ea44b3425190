"""Whether a lifecycle's spans fit inside its owner's, and keeping them inside.

A child lifecycle is placed inside its owner's open lifecycle (see
`tracewatch.core.engine`). An owner still running stretches to cover what it
holds; one that left, or was cut short, has fixed bounds, and a child only fits
if the data allows it to lie within them. Pure functions of the lifecycles.
"""

from __future__ import annotations

import msgspec

from tracewatch.core.lifecycle import Lifecycle
from tracewatch.core.spans import Outcome, SpanRecord

_STRETCHES = (Outcome.COMPLETED, Outcome.FAILED)


def owner_bounds(owner: Lifecycle) -> tuple[int, int | None]:
    """(floor, ceiling) a child placed inside `owner` must keep to.

    An owner still open, or ended but waiting for its children, stretches to cover
    them (no ceiling); one that left, or was cut short (superseded, deleted, timed
    out), does not: its end is a fact about the owner, not about its children.
    """
    if owner.emitted_bounds is not None:
        return owner.emitted_bounds
    if owner.end is not None and owner.outcome not in _STRETCHES:
        return owner.start.earliest, owner.end.ns
    return owner.start.earliest, None


def fits(lc: Lifecycle, owner: Lifecycle) -> bool:
    """Whether lc's subtree can lie inside the owner, by the bounds the data allows."""
    floor, ceiling = owner_bounds(owner)
    if ceiling is None:
        return True
    assert lc.end is not None
    start_high = min(lc.start.latest, lc.nested_start_ns or lc.start.latest)
    end_low = max(lc.end.earliest, lc.nested_end_ns)
    return start_high >= floor and end_low <= ceiling


def clamp(span: SpanRecord, low: int, high: int) -> SpanRecord:
    """The span (and its events) moved inside [low, high]; the same span if it is inside."""
    start = min(max(span.start_ns, low), high)
    end = min(max(span.end_ns, start), high)
    if (start, end) == (span.start_ns, span.end_ns):
        return span
    events = tuple(
        msgspec.structs.replace(e, time_ns=min(max(e.time_ns, start), end)) for e in span.events
    )
    return msgspec.structs.replace(span, start_ns=start, end_ns=end, events=events)
