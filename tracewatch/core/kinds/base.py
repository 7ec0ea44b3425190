"""The contract between the engine and a kind's tracker.

A tracker folds its kind's snapshots (and the Events about its objects) into
lifecycles, opening and ending them through the `Ledger`; when the engine
emits a lifecycle it asks the tracker to `build` its spans. Trackers hold no
references to each other: relations between objects (owners, claims) go
through the engine's placement logic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant
from tracewatch.core.lifecycle import Lifecycle, Placement
from tracewatch.core.observations import Observation
from tracewatch.core.snapshots import Event, ObjectMeta


class Ledger(Protocol):
    """What a tracker may ask of the engine."""

    now_ns: int
    counters: Counter[str]

    def open(self, lifecycle: Lifecycle) -> None:
        """Start tracking a lifecycle; Events buffered for its uid are delivered next."""

    def ended(self, lifecycle: Lifecycle) -> None:
        """The lifecycle has ended: emit it after the settle delay."""

    def current(self, uid: str, key: str | None = None) -> Lifecycle | None:
        """The open (not yet emitted) lifecycle of `uid` with `key`, or its latest if None."""

    def open_lifecycles(self, uid: str) -> Mapping[str, Lifecycle]:
        """The open lifecycles of `uid` by key, read only. Look up before opening: one opened
        after the call may or may not show in it."""

    def was_emitted(self, uid: str, key: str) -> bool:
        """True if this lifecycle was emitted already (this run or, via the state file, before)."""

    def context_for(self, meta: ObjectMeta) -> Placement | None:
        """The trace context an object's annotations name (garbage is counted, gives None)."""

    def skip_history(self, kind: str, uid: str, key: str, *, end_ns: int, at_ns: int) -> bool:
        """Settle a lifecycle first seen at at_ns that had already ended at end_ns, before
        the back-fill window, without opening it: it counts as emitted (nothing is emitted
        for it). False, and nothing recorded, when it ended inside the window. Only for
        kinds that keep no history (nothing is placed inside their lifecycles)."""

    def forget(self, uid: str) -> None:
        """The object is gone: drop its history once its open lifecycles are emitted."""

    def placement_of(self, uid: str, key: str) -> Placement | None:
        """Where another object's lifecycle sits (for links), if it is known."""

    def claim_binding(self, *, namespace: str, claim: str) -> tuple[bytes, bytes] | None:
        """(trace id, span id) of the named claim's BindClaim span, if the claim is known."""


def open_lifecycle(
    ledger: Ledger,
    meta: ObjectMeta,
    *,
    kind: str,
    key: str,
    start: Instant,
    at_ns: int,
    state: Any,
    owner_hint: tuple[str, tuple[str, ...]] | None = None,
) -> Lifecycle:
    """Open a lifecycle of the object `meta` describes: its controller owner and any
    trace context come from the object; the ledger starts tracking it."""
    owner_uid = ""
    for owner in meta.owner_references:
        if owner.controller:
            owner_uid = owner.uid
            break
    lifecycle = Lifecycle(
        kind=kind,
        key=key,
        uid=meta.uid,
        namespace=meta.namespace,
        name=meta.name,
        start=start,
        first_seen_ns=at_ns,
        owner_uid=owner_uid,
        owner_hint=owner_hint,
        context=ledger.context_for(meta),
        state=state,
    )
    ledger.open(lifecycle)
    return lifecycle


class Tracker(Protocol):
    """One lifecycle kind: which snapshots it takes and how it turns them into spans."""

    # Read-only properties, so that a class attribute such as `(Pod,)` satisfies them.
    @property
    def snapshot_types(self) -> tuple[type, ...]: ...

    @property
    def event_kinds(self) -> tuple[str, ...]: ...

    @property
    def keeps_history(self) -> bool:
        """True if other objects' lifecycles nest inside this kind's (owners keep a short
        history)."""
        ...

    def observe(self, obs: Observation, obj: Any, ledger: Ledger) -> None: ...

    def event(self, lifecycle: Lifecycle, event: Event, observed_at_ns: int) -> None: ...

    def top_name(self, lifecycle: Lifecycle) -> str: ...

    def build(self, lifecycle: Lifecycle, builder: TraceBuilder, ledger: Ledger) -> None: ...
