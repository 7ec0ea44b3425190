"""Lifecycles: one reconciliation of one object, the unit that becomes a subtree of spans.

A kind's tracker opens a `Lifecycle` when desired state changes (creation,
a new generation, a replicas change, a deletion request) and ends it when
the object reached it (or failed, was superseded, deleted, timed out). Where
the lifecycle's spans go in the trace forest is its `Placement`, resolved by
the engine when the lifecycle is first needed as a parent or emitted (see
`tracewatch.core.engine`): inside the owner's open lifecycle, under a
trace-context annotation, or a trace of its own with a link to the owner.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct, field

from tracewatch.core.clock import Instant
from tracewatch.core.spans import Outcome, SpanLink, SpanRecord


class Placement(Struct, frozen=True, gc=False):
    """Where a lifecycle's top span sits: its trace, its parent (b"" for a root) and its own id.

    A Struct outside the GC (it holds only bytes and links): one per lifecycle.
    """

    trace_id: bytes
    parent_span_id: bytes
    span_id: bytes
    links: tuple[SpanLink, ...] = ()


class Lifecycle(Struct, eq=False):
    """One reconciliation in progress (or just finished, waiting to be emitted).

    `state` is the kind's own compact record (e.g. a PodTrack). `owner_uid` is
    the controller owner's uid ("" if none); `owner_hint` names candidate
    owners by (kind, names in the same namespace) where no owner reference
    exists (a StatefulSet's claims), resolved when the lifecycle is placed. `nested_end_ns` is the
    latest end among lifecycles emitted inside this one (`nested_start_ns` the
    earliest start): the top span is stretched to cover them so no child lies
    outside its parent, its start only as far as its own uncertainty allows
    (an owner cannot start after what it created). `emitted_bounds` are the
    top span's final bounds once emitted. `held` are the finished spans of
    lifecycles nested inside this one, emitted together with it so that a
    trace leaves whole (and can be sampled whole).
    """

    kind: str
    key: str
    uid: str
    namespace: str
    name: str
    start: Instant
    first_seen_ns: int
    owner_uid: str = ""
    owner_hint: tuple[str, tuple[str, ...]] | None = None
    context: Placement | None = None
    end: Instant | None = None
    outcome: Outcome | None = None
    reason: str = ""
    state: Any = None
    placement: Placement | None = None
    links: list[SpanLink] = field(default_factory=list)
    nested_start_ns: int = 0
    nested_end_ns: int = 0
    emitted_bounds: tuple[int, int] | None = None
    held: list[SpanRecord] = field(default_factory=list)

    def finish(self, when: Instant, outcome: Outcome, *, reason: str = "") -> None:
        """End the lifecycle at `when` (first call wins)."""
        if self.end is not None:
            return
        self.end = when
        self.outcome = outcome
        self.reason = reason


def top_start(lifecycle: Lifecycle) -> Instant:
    """The top span's start: the estimate, moved earlier (within its bounds) for its children."""
    start = lifecycle.start
    if lifecycle.nested_start_ns and lifecycle.nested_start_ns < start.ns:
        return Instant(
            max(lifecycle.nested_start_ns, start.earliest), start.source, start.low, start.high
        )
    return start


def top_end(lifecycle: Lifecycle) -> Instant:
    """The top span's end: the lifecycle's end, stretched over children emitted inside it."""
    assert lifecycle.end is not None
    if lifecycle.nested_end_ns > lifecycle.end.ns:
        return Instant(lifecycle.nested_end_ns, lifecycle.end.source)
    return lifecycle.end
