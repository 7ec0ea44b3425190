"""The ReplicaSet controller (pkg/controller/replicaset/replica_set.go), simulated.

Per sync of one ReplicaSet:
- its active pods (controlled by it, not terminal, not being deleted) are
  compared with `spec.replicas`; missing pods are created from the template
  (`generateName: <rs>-`, the template's labels including `pod-template-hash`,
  an ownerReference with `controller` and `blockOwnerDeletion`), extra pods are
  deleted (unscheduled, then pending, then not-ready, then newest first, as
  `getPodsToDelete` ranks them); each with a `SuccessfulCreate` /
  `SuccessfulDelete` Event from `replicaset-controller` (legacy recorder);
- status is computed from the pods the sync started with (the informer cache),
  so it trails the creations by one write, as on a real cluster: `replicas`,
  `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` (Ready for at
  least `minReadySeconds`), `observedGeneration`; zero counts are omitted
  except `replicas` (the Go struct's omitempty).

Not simulated: adoption and release of pods by label (pods are only ever
created here with their owner reference), slow-start batches, expectations
(store writes are synchronous, so the cache is never stale).
"""

from __future__ import annotations

from typing import Any

from tracewatch.sim.controllers.base import (
    Context,
    ObjKey,
    WorkQueue,
    controller_uid,
    owner_reference,
    parse_time,
    pod_is_active,
    pod_is_ready,
    pod_ready_since_s,
    ref_of,
    status_update,
)
from tracewatch.sim.controllers.index import OwnerIndex
from tracewatch.sim.errors import ApiError
from tracewatch.sim.timestamps import NS_PER_S, now_ns

COMPONENT = "replicaset-controller"
MANAGER = "kube-controller-manager"
BURST_REPLICAS = 500
"""The real controller's cap on creations/deletions per sync."""
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def pod_from_template(
    owner: dict[str, Any], *, generate_name: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """A pod as controllers build it from `spec.template` (GetPodFromTemplate), owned by `owner`."""
    template = owner["spec"].get("template") or {}
    tmeta = template.get("metadata") or {}
    meta: dict[str, Any] = {}
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    meta["namespace"] = owner["metadata"]["namespace"]
    if tmeta.get("labels"):
        meta["labels"] = dict(tmeta["labels"])
    if tmeta.get("annotations"):
        meta["annotations"] = dict(tmeta["annotations"])
    if tmeta.get("finalizers"):
        meta["finalizers"] = list(tmeta["finalizers"])
    meta["ownerReferences"] = [owner_reference(owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec", {})}


def available(pod: dict[str, Any], *, min_ready_seconds: int, at_ns: int) -> tuple[bool, int]:
    """(available now, ns until it will be) by podutil.IsPodAvailable: Ready for minReadySeconds."""
    since = pod_ready_since_s(pod)
    if since is None:
        return False, 0
    if min_ready_seconds <= 0:
        return True, 0
    ready_at = parse_time(since) or 0
    wait = ready_at + min_ready_seconds * NS_PER_S - at_ns
    return wait < 0, max(wait, 0)


def _deletion_rank(pod: dict[str, Any]) -> tuple[Any, ...]:
    """Sort key: pods to delete first sort first (controller.ActivePodsWithRanks, simplified)."""
    status = pod.get("status") or {}
    restarts = sum(cs.get("restartCount", 0) for cs in status.get("containerStatuses") or ())
    created = parse_time(pod["metadata"].get("creationTimestamp")) or 0
    ready_since = parse_time(pod_ready_since_s(pod)) or 0
    return (
        bool((pod.get("spec") or {}).get("nodeName")),
        _PHASE_RANK.get(status.get("phase", "Pending"), 0),
        pod_is_ready(pod),
        -ready_since,
        -restarts,
        -created,
    )


class ReplicaSetController:
    """Keeps each ReplicaSet's pod count at spec.replicas and its status current."""

    def __init__(self, *, ctx: Context, index: OwnerIndex) -> None:
        self._ctx = ctx
        self._index = index
        self.queue = WorkQueue(name="replicaset", sync=self.sync, tasks=ctx.tasks)

    def enqueue(self, key: ObjKey, *, after: float | None = None) -> None:
        options = self._ctx.options
        delay = options.delay(options.controller_sync, self._ctx.rng) if after is None else after
        self.queue.add(key, after=delay)

    def on_replicaset(self, type_: str, rs: dict[str, Any]) -> None:
        if type_ != "DELETED":
            self.enqueue((rs["metadata"]["namespace"], rs["metadata"]["name"]))

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        for ref in pod["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "ReplicaSet":
                self.enqueue((pod["metadata"]["namespace"], ref["name"]))

    def sync(self, key: ObjKey) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("replicasets", key)
        if stored is None:
            return
        rs = stored.obj
        uid = stored.uid
        pods = []
        for _, pod_key in self._index.dependents(uid, resource="pods"):
            pod_stored = registry.store.get("pods", pod_key)
            if pod_stored is not None:
                pod = pod_stored.obj
                if controller_uid(pod) == uid:
                    pods.append(pod)
        active = [p for p in pods if pod_is_active(p)]
        at = now_ns()
        if not rs["metadata"].get("deletionTimestamp"):
            self._manage(stored, rs, active, at)
        self._update_status(rs, active, at)

    def _manage(
        self, stored: Any, rs: dict[str, Any], active: list[dict[str, Any]], at: int
    ) -> None:
        registry = self._ctx.registry
        namespace = rs["metadata"]["namespace"]
        diff = len(active) - int(rs["spec"].get("replicas", 1))
        ref = ref_of(stored, rs)
        if diff < 0:
            for _ in range(min(-diff, BURST_REPLICAS)):
                created = registry.create(
                    "pods", pod_from_template(rs), namespace=namespace, manager=MANAGER
                )
                pod_name = created.obj["metadata"]["name"]
                self._ctx.recorder.legacy(
                    about=ref,
                    at_ns=now_ns(),
                    reason="SuccessfulCreate",
                    message=f"Created pod: {pod_name}",
                    component=COMPONENT,
                    host="",
                )
        elif diff > 0:
            for pod in sorted(active, key=_deletion_rank)[: min(diff, BURST_REPLICAS)]:
                pod_name = pod["metadata"]["name"]
                try:
                    registry.delete("pods", namespace=namespace, name=pod_name)
                except ApiError:
                    continue  # already gone: the next sync sees it
                self._ctx.recorder.legacy(
                    about=ref,
                    at_ns=now_ns(),
                    reason="SuccessfulDelete",
                    message=f"Deleted pod: {pod_name}",
                    component=COMPONENT,
                    host="",
                )

    def _update_status(self, rs: dict[str, Any], active: list[dict[str, Any]], at: int) -> None:
        registry = self._ctx.registry
        meta, spec = rs["metadata"], rs["spec"]
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        fully_labeled = ready = avail = 0
        soonest = 0
        for pod in active:
            labels = pod["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in template_labels.items()):
                fully_labeled += 1
            if pod_is_ready(pod):
                ready += 1
                ok, wait = available(pod, min_ready_seconds=min_ready, at_ns=at)
                if ok:
                    avail += 1
                elif wait and (soonest == 0 or wait < soonest):
                    soonest = wait
        if soonest:
            # Re-check once the pod has been Ready for minReadySeconds (the real one requeues too).
            self.enqueue((meta["namespace"], meta["name"]), after=soonest / NS_PER_S + 0.01)
        status: dict[str, Any] = {"replicas": len(active)}
        for field, value in (
            ("fullyLabeledReplicas", fully_labeled),
            ("readyReplicas", ready),
            ("availableReplicas", avail),
            ("observedGeneration", meta.get("generation", 0)),
        ):
            if value:
                status[field] = value
        if (rs.get("status") or {}).get("conditions"):
            status["conditions"] = rs["status"]["conditions"]
        if status == rs.get("status"):
            return
        written = status_update(
            registry,
            "replicasets",
            namespace=meta["namespace"],
            name=meta["name"],
            status=status,
            manager=MANAGER,
            at_ns=at,
            uid=meta["uid"],
        )
        if written is None:
            return
        desired = int(spec.get("replicas", 1))
        truth = registry.truth
        if len(active) == desired:
            truth.record(meta["uid"], f"scaled:{desired}", at)
        if ready == desired and len(active) == desired:
            truth.record(meta["uid"], f"ready:{desired}", at)
        if avail == desired and len(active) == desired:
            truth.record(meta["uid"], f"available:{desired}", at)
