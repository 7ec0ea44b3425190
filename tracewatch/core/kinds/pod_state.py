"""What a pod's lifecycles remember between observations: compact, mutable, per lifecycle.

Held by `Lifecycle.state` while a pod's startup, deletion or container restart
is in progress and released when it is emitted (see `kinds/pod.py`). Mutable Structs
compared by identity: their constructors run in C, and a pod builds several per startup.
"""

from __future__ import annotations

from msgspec import Struct, field

from tracewatch.core.clock import Instant
from tracewatch.core.spans import SpanEvent


class ContainerTrack(Struct, eq=False):
    image: str
    init: bool = False
    pull_start: Instant | None = None
    pull_end: Instant | None = None
    cached: bool = False
    cached_at: Instant | None = None
    started: Instant | None = None
    started_event: Instant | None = None
    finished: Instant | None = None
    restarts: int = 0


class PodTrack(Struct, eq=False):
    """What a pod's startup has shown so far."""

    node: str = ""
    bound_at_creation: bool = False
    scheduled: Instant | None = None
    scheduled_event: Instant | None = None
    sandbox_ready: Instant | None = None
    ready: Instant | None = None
    last_observed_ns: int | None = None
    claims: tuple[str, ...] = ()
    containers: dict[str, ContainerTrack] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    schedule_events: list[SpanEvent] = field(default_factory=list)


class DeleteTrack(Struct, eq=False):
    """What a pod's deletion has shown so far."""

    node: str = ""
    grace_seconds: int = 0
    killing: Instant | None = None
    terminated: Instant | None = None
    last_observed_ns: int | None = None


class RestartTrack(Struct, eq=False):
    """One container restart: exit, back-off, running again."""

    container: str
    node: str
    restart: int
    last_observed_ns: int | None = None
    exit_code: int = 0
    exit_reason: str = ""
    waiting_reason: str = ""
    events: list[SpanEvent] = field(default_factory=list)
