"""Pods: the startup lifecycle (creation -> Ready) and the deletion lifecycle (request -> gone).

Startup (key "create") folds pod snapshots and the pod's Events into fused
instants (`tracewatch.core.clock`); it ends at Ready, at Succeeded/Failed for
run-to-completion pods, at a waiting reason the kubelet cannot get past
(CrashLoopBackOff, ErrImagePull, ...: outcome failed), or when deletion is
requested first (outcome deleted). Deletion (key "delete") starts at
`deletionTimestamp - deletionGracePeriodSeconds` and ends at the DELETED
event. Span trees (DESIGN.md, "Span model"):

    k8s.CreatePod                         creation -> end of startup
      scheduler.SchedulePod               creation -> scheduled (absent if created bound)
      kubelet.StartPod                    scheduled -> end
        kubelet.CreateSandbox             scheduled -> PodReadyToStartContainers
        kubelet.RunInitContainer (each)   ready to start -> finished
        kubelet.PullImage (each pull)     Pulling -> Pulled
        kubelet.StartContainer (each)     ready to start -> started
        kubelet.WaitReady                 last container started -> Ready

    k8s.DeletePod                         deletion requested -> gone
      kubelet.KillPod                     Killing -> containers terminated (or gone)

    kubelet.RestartContainer              a container's exit -> running again (after startup;
                                          the back-off of a crash loop, BackOff events inside)
"""

from __future__ import annotations

from typing import Any

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import (
    SECOND_NS,
    Instant,
    event_instant,
    fuse,
    latest,
    parse_timestamp_ns,
    server_instant,
)
from tracewatch.core.kinds.base import Ledger, open_lifecycle
from tracewatch.core.kinds.pod_spans import build_delete, build_restart, build_startup
from tracewatch.core.kinds.pod_state import ContainerTrack, DeleteTrack, PodTrack, RestartTrack
from tracewatch.core.lifecycle import Lifecycle
from tracewatch.core.memo import remember
from tracewatch.core.observations import GONE, Change, Observation
from tracewatch.core.snapshots import ContainerStatus, Event, Pod
from tracewatch.core.spans import Outcome, SpanEvent, TimeSource

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
_SPAN_EVENT_REASONS = frozenset(
    {"BackOff", "Failed", "Unhealthy", "FailedMount", "FailedScheduling"}
)
# Every reason `_startup_event` acts on.
_STARTUP_REASONS = _SPAN_EVENT_REASONS | {"Scheduled", "Pulling", "Pulled", "Started"}


class PodTracker:
    """Startup and deletion lifecycles of pods."""

    snapshot_types = (Pod,)
    event_kinds = ("Pod",)
    keeps_history = False

    def observe(self, obs: Observation, pod: Pod, ledger: Ledger) -> None:
        meta = pod.metadata
        uid = meta.uid
        gone = obs.change in GONE
        at_ns = obs.observed_at_ns
        # What is open before this step: only `create` can be opened below before `delete`
        # is looked up, so the one lookup serves both.
        open_ = ledger.open_lifecycles(uid)
        create = open_.get("create")
        if (
            create is None
            and not gone
            and not ledger.was_emitted(uid, "create")
            and not _settled_long_ago(pod, at_ns, ledger)
        ):
            create = self._open_create(pod, at_ns, ledger)
        if create is not None and not gone and create.end is None:
            _apply_startup(create, pod, at_ns)
            if create.end is not None:
                ledger.ended(create)
        delete = open_.get("delete")
        # Without a deletionTimestamp (immediate deletion) there is no deletion phase to show.
        if delete is None and meta.deletion_timestamp and not ledger.was_emitted(uid, "delete"):
            delete = self._open_delete(pod, at_ns, ledger)
        if delete is not None:
            if create is not None and create.end is None:
                create.finish(delete.start, Outcome.DELETED, reason="DeletionRequested")
                ledger.ended(create)
            _apply_delete(delete, pod, at_ns)
            if gone:
                source = TimeSource.WATCH if obs.change is Change.DELETED else TimeSource.SERVER
                delete.finish(Instant(at_ns, source), Outcome.COMPLETED)
                ledger.ended(delete)
        elif gone and create is not None and create.end is None:
            create.finish(Instant(at_ns, TimeSource.WATCH), Outcome.DELETED, reason="Deleted")
            ledger.ended(create)
        if create is None or create.end is not None:
            self._restarts(pod, at_ns, ledger, gone=gone or bool(meta.deletion_timestamp))
        if gone:
            ledger.forget(uid)

    def _restarts(self, pod: Pod, at_ns: int, ledger: Ledger, *, gone: bool) -> None:
        """Container restarts after startup: each one a lifecycle, exit -> running again.

        Key `restart-<container>-<n>` for the n-th restart (restartCount becomes n), so a
        crash-looping container shows each exit, its back-off and its return. Only pods
        whose startup is over get here; restarts during startup are span events on it.
        """
        if pod.spec.restart_policy == "Never":
            return
        meta = pod.metadata
        pod_status = pod.status
        statuses = pod_status.container_statuses
        if pod_status.init_container_statuses:
            statuses = (*pod_status.init_container_statuses, *statuses)
        for status in statuses:
            state, last = status.state, status.last_state.terminated
            if state.running is not None and status.restart_count:
                key = f"restart-{status.name}-{status.restart_count}"
                restart = ledger.current(meta.uid, key)
                if restart is None and last is not None and not ledger.was_emitted(meta.uid, key):
                    restart = self._open_restart(
                        pod, status.name, key, last.finished_at, at_ns, ledger
                    )
                if restart is not None and restart.end is None:
                    back = server_instant(
                        state.running.started_at,
                        observed_at_ns=at_ns,
                        previous_ns=restart.state.last_observed_ns,
                    )
                    restart.finish(back or Instant(at_ns, TimeSource.WATCH), Outcome.COMPLETED)
                    ledger.ended(restart)
                continue
            exited = state.terminated or (last if state.waiting is not None else None)
            if exited is None or gone:
                continue
            key = f"restart-{status.name}-{status.restart_count + 1}"
            restart = ledger.current(meta.uid, key)
            if restart is None and not ledger.was_emitted(meta.uid, key):
                restart = self._open_restart(
                    pod, status.name, key, exited.finished_at, at_ns, ledger
                )
            if restart is not None:
                track: RestartTrack = restart.state
                track.last_observed_ns = at_ns
                track.exit_code = exited.exit_code
                track.exit_reason = exited.reason
                if state.waiting is not None and state.waiting.reason:
                    track.waiting_reason = state.waiting.reason
        if gone:
            for status in pod.status.container_statuses:
                restart = ledger.current(
                    meta.uid, f"restart-{status.name}-{status.restart_count + 1}"
                )
                if restart is not None and restart.end is None:
                    restart.finish(
                        Instant(at_ns, TimeSource.WATCH), Outcome.DELETED, reason="Deleted"
                    )
                    ledger.ended(restart)

    def _open_restart(
        self, pod: Pod, container: str, key: str, exited_at: str | None, at_ns: int, ledger: Ledger
    ) -> Lifecycle:
        start = server_instant(exited_at, observed_at_ns=at_ns, previous_ns=None)
        return open_lifecycle(
            ledger,
            pod.metadata,
            kind="Pod",
            key=key,
            start=start or Instant(at_ns, TimeSource.WATCH),
            at_ns=at_ns,
            state=RestartTrack(
                container=container,
                node=pod.spec.node_name,
                restart=int(key.rsplit("-", 1)[1]),
                last_observed_ns=at_ns,
            ),
        )

    def event(self, lifecycle: Lifecycle, event: Event, observed_at_ns: int) -> None:
        # Only Events that change something are timed: most of a pod's (Created, Killing
        # during startup, ...) are not, and their times cost a parse each.
        track: Any = lifecycle.state
        key = lifecycle.key
        if key == "create":
            if event.reason in _STARTUP_REASONS:
                when = event_instant(event, observed_at_ns=observed_at_ns)
                if when is not None:
                    _startup_event(track, event, when)
        elif key == "delete":
            if event.reason == "Killing" and track.killing is None:
                track.killing = event_instant(event, observed_at_ns=observed_at_ns)
        elif _container_name(event.involved_object.field_path) == track.container:
            when = event_instant(event, observed_at_ns=observed_at_ns)
            if when is not None:
                track.events.append(
                    SpanEvent(when.ns, event.reason, (("message", event.message),))
                )

    def top_name(self, lifecycle: Lifecycle) -> str:
        if lifecycle.key == "create":
            return "k8s.CreatePod"
        return "k8s.DeletePod" if lifecycle.key == "delete" else "kubelet.RestartContainer"

    def build(self, lifecycle: Lifecycle, builder: TraceBuilder, ledger: Ledger) -> None:
        if lifecycle.key == "create":
            build_startup(lifecycle, builder, ledger)
        elif lifecycle.key == "delete":
            build_delete(lifecycle, builder)
        else:
            build_restart(lifecycle, builder)

    def _open_create(self, pod: Pod, at_ns: int, ledger: Ledger) -> Lifecycle | None:
        meta = pod.metadata
        created_ns = parse_timestamp_ns(meta.creation_timestamp)
        if created_ns is None:
            ledger.counters["observations.invalid"] += 1
            return None
        track = PodTrack(
            bound_at_creation=bool(pod.spec.node_name) and not _has_condition(pod, "PodScheduled"),
            claims=tuple(
                v.persistent_volume_claim.claim_name
                for v in pod.spec.volumes
                if v.persistent_volume_claim is not None
            ),
        )
        for c in pod.spec.init_containers:
            track.containers[c.name] = ContainerTrack(image=c.image, init=True)
        for c in pod.spec.containers:
            track.containers[c.name] = ContainerTrack(image=c.image)
        return open_lifecycle(
            ledger,
            meta,
            kind="Pod",
            key="create",
            start=fuse(server_ns=created_ns, observed_at_ns=at_ns),
            at_ns=at_ns,
            state=track,
        )

    def _open_delete(self, pod: Pod, at_ns: int, ledger: Ledger) -> Lifecycle:
        meta = pod.metadata
        grace = meta.deletion_grace_period_seconds or 0
        deadline_ns = parse_timestamp_ns(meta.deletion_timestamp)
        if deadline_ns is None:
            requested = Instant(at_ns, TimeSource.WATCH)
        else:
            requested = fuse(server_ns=deadline_ns - grace * SECOND_NS, observed_at_ns=at_ns)
        return open_lifecycle(
            ledger,
            meta,
            kind="Pod",
            key="delete",
            start=requested,
            at_ns=at_ns,
            state=DeleteTrack(node=pod.spec.node_name, grace_seconds=grace),
        )


def _settled_long_ago(pod: Pod, at_ns: int, ledger: Ledger) -> bool:
    """True for a pod first seen Ready since before the back-fill window (an idle pod in the
    initial List): its startup would be opened, ended and skipped as history, so the ledger
    settles it without opening anything. The end is the one `_apply_startup` would find."""
    if parse_timestamp_ns(pod.metadata.creation_timestamp) is None:
        return False  # not a valid object: the normal path counts it
    for cond in pod.status.conditions:
        if cond.type == "Ready" and cond.status == "True":
            ready_ns = parse_timestamp_ns(cond.last_transition_time)
            if ready_ns is None:
                return False
            end = fuse(server_ns=ready_ns, observed_at_ns=at_ns)
            return ledger.skip_history(
                "Pod", pod.metadata.uid, "create", end_ns=end.ns, at_ns=at_ns
            )
    return False


def _apply_startup(lc: Lifecycle, pod: Pod, at_ns: int) -> None:
    """Fold one snapshot into the startup: record each transition the first time it shows."""
    track: PodTrack = lc.state
    previous = track.last_observed_ns
    track.last_observed_ns = at_ns
    if pod.spec.node_name:
        track.node = pod.spec.node_name
    status = pod.status
    for cond in status.conditions:
        if cond.status != "True":
            continue
        kind = cond.type
        if kind == "PodScheduled":
            if track.scheduled is None:
                track.scheduled = server_instant(
                    cond.last_transition_time, observed_at_ns=at_ns, previous_ns=previous
                )
        elif kind == "PodReadyToStartContainers":
            if track.sandbox_ready is None:
                track.sandbox_ready = server_instant(
                    cond.last_transition_time, observed_at_ns=at_ns, previous_ns=previous
                )
        elif kind == "Ready" and track.ready is None:
            track.ready = server_instant(
                cond.last_transition_time, observed_at_ns=at_ns, previous_ns=previous
            )
    for container_status in status.init_container_statuses:
        _apply_container(track, container_status, at_ns, previous)
    for container_status in status.container_statuses:
        _apply_container(track, container_status, at_ns, previous)
    phase = status.phase
    if track.ready is not None:
        lc.finish(track.ready, Outcome.COMPLETED)
    elif phase in ("Succeeded", "Failed"):
        finished = latest(*(c.finished for c in track.containers.values()))
        outcome = Outcome.COMPLETED if phase == "Succeeded" else Outcome.FAILED
        lc.finish(
            finished or Instant(at_ns, TimeSource.WATCH), outcome, reason=status.reason or phase
        )
    else:
        for statuses in (status.init_container_statuses, status.container_statuses):
            for container_status in statuses:
                waiting = container_status.state.waiting
                if waiting is not None and waiting.reason in FAILED_WAITING_REASONS:
                    # The failure is as old as the last attempt's end, when the server had one.
                    last = container_status.last_state.terminated
                    when = (
                        server_instant(last.finished_at, observed_at_ns=at_ns, previous_ns=previous)
                        if last is not None
                        else None
                    )
                    lc.finish(
                        when or Instant(at_ns, TimeSource.WATCH),
                        Outcome.FAILED,
                        reason=waiting.reason,
                    )
                    return


def _apply_container(
    track: PodTrack, status: ContainerStatus, at_ns: int, previous: int | None
) -> None:
    container = track.containers.get(status.name)
    if container is None:
        return
    state = status.state
    running, terminated = state.running, state.terminated
    if container.started is None:
        if running is not None and running.started_at:
            container.started = server_instant(
                running.started_at, observed_at_ns=at_ns, previous_ns=previous
            )
        elif terminated is not None and terminated.started_at:
            container.started = server_instant(
                terminated.started_at, observed_at_ns=at_ns, previous_ns=previous
            )
    if container.finished is None and terminated is not None and terminated.finished_at:
        container.finished = server_instant(
            terminated.finished_at, observed_at_ns=at_ns, previous_ns=previous
        )
    if status.restart_count > container.restarts:
        container.restarts = status.restart_count
        last = status.last_state.terminated
        track.events.append(
            SpanEvent(
                at_ns,
                "ContainerRestarted",
                (
                    ("k8s.container.name", status.name),
                    ("k8s.container.restart_count", status.restart_count),
                    ("tracewatch.reason", last.reason if last is not None else ""),
                ),
            )
        )


def _startup_event(track: PodTrack, event: Event, when: Instant) -> None:
    reason = event.reason
    if reason == "Scheduled":
        track.scheduled_event = when
        return
    if reason == "FailedScheduling":
        track.schedule_events.append(
            SpanEvent(when.ns, "FailedScheduling", (("message", event.message),))
        )
        return
    if reason in _SPAN_EVENT_REASONS:
        track.events.append(SpanEvent(when.ns, reason, (("message", event.message),)))
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


def _apply_delete(lc: Lifecycle, pod: Pod, at_ns: int) -> None:
    track: DeleteTrack = lc.state
    previous = track.last_observed_ns
    track.last_observed_ns = at_ns
    if pod.spec.node_name:
        track.node = pod.spec.node_name
    statuses = pod.status.container_statuses
    if track.terminated is None and statuses and all(s.state.terminated for s in statuses):
        track.terminated = latest(
            *(
                server_instant(
                    s.state.terminated.finished_at, observed_at_ns=at_ns, previous_ns=previous
                )
                for s in statuses
                if s.state.terminated is not None
            )
        )


def _has_condition(pod: Pod, kind: str) -> bool:
    return any(cond.type == kind for cond in pod.status.conditions)


# The container each fieldPath names, by fieldPath: a pod's Events name its few containers
# over and over, and so do its siblings'.
_CONTAINER_NAMES: dict[str, str] = {}
_MAX_CONTAINER_NAMES = 4096


def _container_name(field_path: str) -> str:
    """The container an Event's fieldPath names ("spec.containers{nginx}": nginx); "" if none."""
    name = _CONTAINER_NAMES.get(field_path)
    if name is not None:
        return name
    open_ = field_path.find("{")
    name = field_path[open_ + 1 : -1] if open_ >= 0 and field_path.endswith("}") else ""
    return remember(_CONTAINER_NAMES, field_path, name, _MAX_CONTAINER_NAMES)


__all__ = ["FAILED_WAITING_REASONS", "PodTracker"]
