"""PersistentVolumeClaims: creation -> Bound, with the binding (and provisioning) inside.

    k8s.CreatePersistentVolumeClaim       creation -> Bound
      persistentvolume.BindClaim          provisioning/binding started -> Bound

The binding starts at the first provisioning Event (ExternalProvisioning,
Provisioning) when there is one, else at creation; WaitForFirstConsumer and
the provisioning Events are span events on it. A pod's scheduling span links
to the BindClaim span of each claim it mounts (see kinds/pod.py). Claims from
a StatefulSet's volumeClaimTemplates (`<template>-<set>-<ordinal>`) carry no
owner reference, so their owner is named by a hint the engine resolves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tracewatch.core.building import TraceBuilder
from tracewatch.core.clock import Instant, event_instant, fuse, parse_timestamp_ns
from tracewatch.core.kinds.base import Ledger, open_lifecycle
from tracewatch.core.lifecycle import Lifecycle, top_end, top_start
from tracewatch.core.observations import GONE, Observation
from tracewatch.core.snapshots import Event, PersistentVolumeClaim
from tracewatch.core.spans import Outcome, SpanEvent, TimeSource

BIND_SPAN = "persistentvolume.BindClaim"
_PROVISIONING_STARTS = ("ExternalProvisioning", "Provisioning")


@dataclass(slots=True)
class ClaimTrack:
    storage_class: str = ""
    volume: str = ""
    binding_started: Instant | None = None
    last_observed_ns: int | None = None
    events: list[SpanEvent] = field(default_factory=list)


class ClaimTracker:
    """The create -> Bound lifecycle of PVCs."""

    snapshot_types = (PersistentVolumeClaim,)
    event_kinds = ("PersistentVolumeClaim",)
    keeps_history = True

    def observe(self, obs: Observation, pvc: PersistentVolumeClaim, ledger: Ledger) -> None:
        meta = pvc.metadata
        at_ns = obs.observed_at_ns
        current = ledger.current(meta.uid)
        if obs.change in GONE:
            if current is not None and current.end is None:
                current.finish(Instant(at_ns, TimeSource.WATCH), Outcome.DELETED, reason="Deleted")
                ledger.ended(current)
            ledger.forget(meta.uid)
            return
        if current is None:
            if ledger.was_emitted(meta.uid, "create"):
                return
            created = parse_timestamp_ns(meta.creation_timestamp)
            if created is None:
                ledger.counters["observations.invalid"] += 1
                return
            current = open_lifecycle(
                ledger,
                meta,
                kind="PersistentVolumeClaim",
                key="create",
                start=fuse(server_ns=created, observed_at_ns=at_ns),
                at_ns=at_ns,
                state=ClaimTrack(storage_class=pvc.spec.storage_class_name or ""),
                owner_hint=("StatefulSet", statefulset_candidates(meta.name)),
            )
        track: ClaimTrack = current.state
        previous = track.last_observed_ns
        track.last_observed_ns = at_ns
        if pvc.spec.volume_name:
            track.volume = pvc.spec.volume_name
        if current.end is None and pvc.status.phase == "Bound":
            status_writes = [
                ns
                for f in meta.managed_fields
                if f.subresource == "status" and (ns := parse_timestamp_ns(f.time)) is not None
            ]
            if status_writes:
                bound = fuse(
                    server_ns=max(status_writes), observed_at_ns=at_ns, previous_ns=previous
                )
            else:
                bound = Instant(at_ns, TimeSource.WATCH)
            current.finish(bound, Outcome.COMPLETED)
            ledger.ended(current)
        elif current.end is None and pvc.status.phase == "Lost":
            current.finish(Instant(at_ns, TimeSource.WATCH), Outcome.FAILED, reason="Lost")
            ledger.ended(current)

    def event(self, lifecycle: Lifecycle, event: Event, observed_at_ns: int) -> None:
        when = event_instant(event, observed_at_ns=observed_at_ns)
        if when is None:
            return
        track: ClaimTrack = lifecycle.state
        if event.reason in _PROVISIONING_STARTS and track.binding_started is None:
            track.binding_started = when
        track.events.append(SpanEvent(when.ns, event.reason, (("message", event.message),)))

    def top_name(self, lifecycle: Lifecycle) -> str:
        return "k8s.CreatePersistentVolumeClaim"

    def build(self, lifecycle: Lifecycle, builder: TraceBuilder, ledger: Ledger) -> None:
        track: ClaimTrack = lifecycle.state
        assert lifecycle.end is not None and lifecycle.outcome is not None
        attrs: tuple[tuple[str, Any], ...] = (
            ("k8s.namespace.name", lifecycle.namespace),
            ("k8s.persistentvolumeclaim.name", lifecycle.name),
            ("k8s.persistentvolumeclaim.uid", lifecycle.uid),
            ("k8s.storageclass.name", track.storage_class),
        )
        if track.volume:
            attrs += (("k8s.persistentvolume.name", track.volume),)
        root = builder.top(
            name="k8s.CreatePersistentVolumeClaim",
            service="kube-controller-manager",
            start=top_start(lifecycle),
            end=top_end(lifecycle),
            attributes=(*attrs, ("tracewatch.outcome", lifecycle.outcome.value)),
        )
        builder.add(
            name=BIND_SPAN,
            service="kube-controller-manager",
            start=track.binding_started or lifecycle.start,
            end=lifecycle.end,
            parent=root,
            attributes=attrs,
            events=tuple(track.events),
        )


def statefulset_candidates(claim: str) -> tuple[str, ...]:
    """StatefulSet names a claim `<template>-<set>-<ordinal>` could belong to."""
    head, _, ordinal = claim.rpartition("-")
    if not ordinal.isdigit() or "-" not in head:
        return ()
    parts = head.split("-")
    return tuple("-".join(parts[i:]) for i in range(1, len(parts)))
