"""Building a pod lifecycle's spans from what its state recorded (trees in `kinds/pod.py`)."""

from __future__ import annotations

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant, best
from tracewatch.core.kinds.base import Ledger
from tracewatch.core.kinds.pod_state import DeleteTrack, PodTrack, RestartTrack
from tracewatch.core.lifecycle import Lifecycle, top_end, top_start
from tracewatch.core.spans import Attributes, Outcome, SpanLink, StatusCode

__all__ = ["build_delete", "build_restart", "build_startup"]

# Enum members as module constants: on Python 3.11 `Outcome.X` is a slow lookup (EnumType
# defines __getattr__), a global is not; likewise `.value` is a Python-level property.
_COMPLETED = Outcome.COMPLETED
_FAILURES = (Outcome.FAILED, Outcome.TIMED_OUT)
_ERROR, _UNSET = StatusCode.ERROR, StatusCode.UNSET
# ("tracewatch.outcome", value) for every outcome, built once, by `Outcome._value_`.
_OUTCOME: dict[str, tuple[str, str]] = {o.value: ("tracewatch.outcome", o.value) for o in Outcome}


def build_startup(lc: Lifecycle, b: TraceBuilder, ledger: Ledger) -> None:
    track: PodTrack = lc.state
    assert lc.end is not None and lc.outcome is not None
    base = _base_attributes(lc, track.node)
    failed = lc.outcome in _FAILURES
    root = b.top(
        name="k8s.CreatePod",
        service="kubernetes",
        start=top_start(lc),
        end=top_end(lc),
        attributes=(
            *base,
            _OUTCOME[lc.outcome._value_],
            *((("tracewatch.reason", lc.reason),) if lc.reason else ()),
            ("container.image.name", tuple([c.image for c in track.containers.values()])),
        ),
        events=tuple(track.events),
        status=_ERROR if failed else _UNSET,
        status_message=lc.reason if failed else "",
    )
    scheduled = best(track.scheduled_event, track.scheduled)
    if scheduled is not None and not track.bound_at_creation:
        b.add(
            name="scheduler.SchedulePod",
            service="kube-scheduler",
            start=lc.start,
            end=scheduled,
            parent=root,
            attributes=base,
            events=tuple(track.schedule_events),
            links=_claim_links(lc, track, ledger),
        )
    if not track.node and scheduled is None:
        return
    kubelet_start = lc.start if scheduled is None or track.bound_at_creation else scheduled
    start_pod = b.add(
        name="kubelet.StartPod",
        service="kubelet",
        start=kubelet_start,
        end=lc.end,
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
        started = best(c.started_event, c.started)
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
        if c.init:
            ready_base = c.finished or started
        elif last_started is None or started.ns > last_started.ns:
            last_started = started
    if lc.outcome is _COMPLETED and track.ready is not None and last_started is not None:
        b.add(
            name="kubelet.WaitReady",
            service="kubelet",
            start=last_started,
            end=track.ready,
            parent=start_pod,
            attributes=base,
        )


def build_delete(lc: Lifecycle, b: TraceBuilder) -> None:
    track: DeleteTrack = lc.state
    assert lc.end is not None and lc.outcome is not None
    base: Attributes = (
        *_base_attributes(lc, track.node),
        ("k8s.pod.termination_grace_period", track.grace_seconds),
    )
    root = b.top(
        name="k8s.DeletePod",
        service="kubernetes",
        start=top_start(lc),
        end=top_end(lc),
        attributes=(*base, _OUTCOME[lc.outcome._value_]),
    )
    if track.node:
        b.add(
            name="kubelet.KillPod",
            service="kubelet",
            start=track.killing or lc.start,
            end=track.terminated or lc.end,
            parent=root,
            attributes=base,
        )


def build_restart(lc: Lifecycle, b: TraceBuilder) -> None:
    track: RestartTrack = lc.state
    assert lc.end is not None and lc.outcome is not None
    reason = track.waiting_reason or track.exit_reason
    b.top(
        name="kubelet.RestartContainer",
        service="kubelet",
        start=top_start(lc),
        end=top_end(lc),
        attributes=(
            *_base_attributes(lc, track.node),
            ("k8s.container.name", track.container),
            ("k8s.container.restart_count", track.restart),
            ("k8s.container.last_terminated.exit_code", track.exit_code),
            _OUTCOME[lc.outcome._value_],
            *((("tracewatch.reason", reason),) if reason else ()),
        ),
        events=tuple(track.events),
    )


def _claim_links(lc: Lifecycle, track: PodTrack, ledger: Ledger) -> tuple[SpanLink, ...]:
    """Links from scheduling to the binding of each claim the pod waited for."""
    links = []
    for claim in track.claims:
        found = ledger.claim_binding(namespace=lc.namespace, claim=claim)
        if found is not None:
            trace, span = found
            links.append(
                SpanLink(
                    trace,
                    span,
                    (
                        ("tracewatch.link", "volume_binding"),
                        ("k8s.persistentvolumeclaim.name", claim),
                    ),
                )
            )
    return tuple(links)


def _base_attributes(lc: Lifecycle, node: str) -> tuple[tuple[str, str], ...]:
    attrs = (
        ("k8s.namespace.name", lc.namespace),
        ("k8s.pod.name", lc.name),
        ("k8s.pod.uid", lc.uid),
    )
    return (*attrs, ("k8s.node.name", node)) if node else attrs
