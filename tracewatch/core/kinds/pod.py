"""Pod startup lifecycle: from creation to Ready (or Succeeded/Failed, or deleted first).

The tracker keeps one compact `PodTrack` per pod that is still starting. It
folds pod snapshots and the pod's Events into fused instants (see
`tracewatch.core.clock`) and, once the lifecycle has ended, the engine asks it
for the trace (`build_spans`). Finished pods leave only their uid behind, so a
later update of an idle pod costs a set lookup.

Span tree (DESIGN.md, "Span model"):

    k8s.CreatePod                         creation -> Ready / terminal / deleted
      scheduler.SchedulePod               creation -> scheduled (absent if created bound)
      kubelet.StartPod                    scheduled -> end
        kubelet.CreateSandbox             scheduled -> PodReadyToStartContainers
        kubelet.PullImage (each pull)     Pulling -> Pulled
        kubelet.StartContainer (each)     ready to start -> started
        kubelet.WaitReady                 last container started -> Ready
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant, fuse, legacy_event_ns, parse_timestamp_ns
from tracewatch.core.snapshots import ContainerStatus, Event, Pod, PodCondition
from tracewatch.core.spans import Outcome, SpanEvent, SpanRecord, StatusCode, TimeSource

LIFECYCLE = "create"

# Waiting reasons after which the kubelet will not get the pod started without outside help.
FAILED_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)

_PRECISE = (TimeSource.EVENT_TIME, TimeSource.EVENT_NAME, TimeSource.WATCH)


@dataclass(slots=True)
class ContainerTrack:
    image: str
    init: bool = False
    pull_start: Instant | None = None
    pull_end: Instant | None = None
    cached: bool = False
    cached_at: Instant | None = None
    started: Instant | None = None
    started_event: Instant | None = None
    finished: Instant | None = None


@dataclass(slots=True)
class PodTrack:
    uid: str
    namespace: str
    name: str
    created: Instant
    first_seen_ns: int
    node: str = ""
    bound_at_creation: bool = False
    scheduled: Instant | None = None
    scheduled_event: Instant | None = None
    sandbox_ready: Instant | None = None
    ready: Instant | None = None
    end: Instant | None = None
    outcome: Outcome | None = None
    reason: str = ""
    last_observed_ns: int | None = None
    containers: dict[str, ContainerTrack] = field(default_factory=dict)
    schedule_events: list[SpanEvent] = field(default_factory=list)


def start_track(pod: Pod, *, observed_at_ns: int) -> PodTrack | None:
    """A new track from the first snapshot of a pod, or None if it has no creation time."""
    meta = pod.metadata
    created_ns = parse_timestamp_ns(meta.creation_timestamp)
    if created_ns is None:
        return None
    track = PodTrack(
        uid=meta.uid,
        namespace=meta.namespace,
        name=meta.name,
        created=fuse(server_ns=created_ns, observed_at_ns=observed_at_ns),
        first_seen_ns=observed_at_ns,
        bound_at_creation=bool(pod.spec.node_name) and _condition(pod, "PodScheduled") is None,
    )
    for c in pod.spec.init_containers:
        track.containers[c.name] = ContainerTrack(image=c.image, init=True)
    for c in pod.spec.containers:
        track.containers[c.name] = ContainerTrack(image=c.image)
    return track


def apply_pod(track: PodTrack, pod: Pod, *, observed_at_ns: int) -> None:
    """Fold one snapshot into the track: record each transition the first time it shows."""
    previous = track.last_observed_ns
    track.last_observed_ns = observed_at_ns

    def at(ts: str | None) -> Instant | None:
        server_ns = parse_timestamp_ns(ts)
        if server_ns is None:
            return None
        return fuse(server_ns=server_ns, observed_at_ns=observed_at_ns, previous_ns=previous)

    if pod.spec.node_name:
        track.node = pod.spec.node_name
    for cond in pod.status.conditions:
        if cond.status != "True":
            continue
        if cond.type == "PodScheduled" and track.scheduled is None:
            track.scheduled = at(cond.last_transition_time)
        elif cond.type == "PodReadyToStartContainers" and track.sandbox_ready is None:
            track.sandbox_ready = at(cond.last_transition_time)
        elif cond.type == "Ready" and track.ready is None:
            track.ready = at(cond.last_transition_time)
    statuses = (*pod.status.init_container_statuses, *pod.status.container_statuses)
    for status in statuses:
        _apply_container(track, status, at)
    if track.end is not None:
        return
    phase = pod.status.phase
    if track.ready is not None:
        finish(track, track.ready, Outcome.COMPLETED)
    elif phase in ("Succeeded", "Failed"):
        finished = [c.finished for c in track.containers.values() if c.finished is not None]
        end = (
            max(finished, key=lambda i: i.ns)
            if finished
            else Instant(observed_at_ns, TimeSource.WATCH)
        )
        outcome = Outcome.COMPLETED if phase == "Succeeded" else Outcome.FAILED
        finish(track, end, outcome, reason=pod.status.reason or phase)
    else:
        for status in statuses:
            waiting = status.state.waiting
            if waiting is not None and waiting.reason in FAILED_WAITING_REASONS:
                # The failure is as old as the last attempt's end, when the server recorded one.
                last = status.last_state.terminated
                when = at(last.finished_at) if last is not None else None
                finish(
                    track,
                    when or Instant(observed_at_ns, TimeSource.WATCH),
                    Outcome.FAILED,
                    reason=waiting.reason,
                )
                break


def apply_deleted(track: PodTrack, *, observed_at_ns: int) -> None:
    """The pod went away before its startup ended."""
    if track.end is None:
        finish(track, Instant(observed_at_ns, TimeSource.WATCH), Outcome.DELETED, reason="Deleted")


def apply_event(track: PodTrack, event: Event, *, observed_at_ns: int) -> None:
    """Fold one of the pod's Events into the track."""
    when = event_instant(event, observed_at_ns=observed_at_ns)
    if when is None:
        return
    reason = event.reason
    if reason == "Scheduled":
        track.scheduled_event = when
        return
    if reason == "FailedScheduling":
        track.schedule_events.append(
            SpanEvent(when.ns, "FailedScheduling", (("message", event.message),))
        )
        return
    container = track.containers.get(_container_name(event.involved_object.field_path))
    if container is None:
        return
    if reason == "Pulling" and container.pull_start is None:
        container.pull_start = when
    elif reason == "Pulled":
        if "already present" in event.message:
            container.cached = True
            container.cached_at = when
        elif container.pull_end is None:
            container.pull_end = when
    elif reason == "Started" and container.started_event is None:
        container.started_event = when


def event_instant(event: Event, *, observed_at_ns: int) -> Instant | None:
    """When an Event happened: eventTime, else the legacy name's clock, else firstTimestamp."""
    precise = parse_timestamp_ns(event.event_time)
    if precise is not None:
        return Instant(precise, TimeSource.EVENT_TIME)
    first = parse_timestamp_ns(event.first_timestamp)
    named = legacy_event_ns(name=event.metadata.name, first_timestamp_ns=first, count=event.count)
    if named is not None:
        return Instant(named, TimeSource.EVENT_NAME)
    if first is None:
        return None
    return fuse(server_ns=first, observed_at_ns=observed_at_ns)


def build_spans(track: PodTrack, *, parent_trace: bytes | None = None) -> list[SpanRecord]:
    """The finished lifecycle's trace. The track must have ended."""
    assert track.end is not None and track.outcome is not None
    b = TraceBuilder(uid=track.uid, lifecycle=LIFECYCLE)
    base = _base_attributes(track)
    outcome = track.outcome
    failed = outcome in (Outcome.FAILED, Outcome.TIMED_OUT)
    root_attrs = (
        *base,
        ("tracewatch.outcome", outcome.value),
        *((("tracewatch.reason", track.reason),) if track.reason else ()),
        ("container.image.name", tuple(c.image for c in track.containers.values())),
    )
    root = b.add(
        name="k8s.CreatePod",
        service="kubernetes",
        start=track.created,
        end=track.end,
        attributes=root_attrs,
        status=StatusCode.ERROR if failed else StatusCode.UNSET,
        status_message=track.reason if failed else "",
    )
    scheduled = _best(track.scheduled_event, track.scheduled)
    if scheduled is not None and not track.bound_at_creation:
        b.add(
            name="scheduler.SchedulePod",
            service="kube-scheduler",
            start=track.created,
            end=scheduled,
            parent=root,
            attributes=base,
            events=tuple(track.schedule_events),
        )
    if scheduled is None or track.bound_at_creation:
        kubelet_start = track.created
    else:
        kubelet_start = scheduled
    if not track.node and scheduled is None:
        return b.spans()
    start_pod = b.add(
        name="kubelet.StartPod",
        service="kubelet",
        start=kubelet_start,
        end=track.end,
        parent=root,
        attributes=base,
    )
    if track.sandbox_ready is not None:
        b.add(
            name="kubelet.CreateSandbox",
            service="kubelet",
            start=kubelet_start,
            end=track.sandbox_ready,
            parent=start_pod,
            attributes=base,
        )
    ready_base = track.sandbox_ready or kubelet_start
    last_started: Instant | None = None
    for name, c in track.containers.items():
        cattrs = (*base, ("k8s.container.name", name), ("container.image.name", c.image))
        if c.pull_start is not None and c.pull_end is not None:
            b.add(
                name="kubelet.PullImage",
                service="kubelet",
                start=c.pull_start,
                end=c.pull_end,
                parent=start_pod,
                discriminator=name,
                attributes=cattrs,
            )
        started = _best(c.started_event, c.started)
        if started is None:
            continue
        ready_to_start = c.pull_end or c.cached_at or ready_base
        b.add(
            name="kubelet.RunInitContainer" if c.init else "kubelet.StartContainer",
            service="kubelet",
            start=ready_to_start,
            end=(c.finished or started) if c.init else started,
            parent=start_pod,
            discriminator=name,
            attributes=(*cattrs, ("tracewatch.image.cached", c.cached)),
        )
        if not c.init and (last_started is None or started.ns > last_started.ns):
            last_started = started
    if outcome is Outcome.COMPLETED and track.ready is not None and last_started is not None:
        b.add(
            name="kubelet.WaitReady",
            service="kubelet",
            start=last_started,
            end=track.ready,
            parent=start_pod,
            attributes=base,
        )
    return b.spans()


def _apply_container(
    track: PodTrack, status: ContainerStatus, at: Callable[[str | None], Instant | None]
) -> None:
    container = track.containers.get(status.name)
    if container is None:
        return
    running, terminated = status.state.running, status.state.terminated
    if container.started is None:
        if running is not None and running.started_at:
            container.started = at(running.started_at)
        elif terminated is not None and terminated.started_at:
            container.started = at(terminated.started_at)
    if container.finished is None and terminated is not None and terminated.finished_at:
        container.finished = at(terminated.finished_at)


def finish(track: PodTrack, when: Instant, outcome: Outcome, *, reason: str = "") -> None:
    """End the lifecycle at `when` with `outcome`."""
    track.end = when
    track.outcome = outcome
    track.reason = reason


def _condition(pod: Pod, kind: str) -> PodCondition | None:
    for cond in pod.status.conditions:
        if cond.type == kind:
            return cond
    return None


def _container_name(field_path: str) -> str:
    # "spec.containers{nginx}" / "spec.initContainers{init}"
    open_ = field_path.find("{")
    if open_ < 0 or not field_path.endswith("}"):
        return ""
    return field_path[open_ + 1 : -1]


def _best(*candidates: Instant | None) -> Instant | None:
    """The first precise candidate, else the first present one."""
    present = [c for c in candidates if c is not None]
    for c in present:
        if c.source in _PRECISE:
            return c
    return present[0] if present else None


def _base_attributes(track: PodTrack) -> tuple[tuple[str, str], ...]:
    attrs = [
        ("k8s.namespace.name", track.namespace),
        ("k8s.pod.name", track.name),
        ("k8s.pod.uid", track.uid),
    ]
    if track.node:
        attrs.append(("k8s.node.name", track.node))
    return tuple(attrs)
