"""The DaemonSet controller (pkg/controller/daemon/daemon_controller.go), simulated.

One pod per node (`generateName: <ds>-`), placed as the real controller does it
since 1.12: through required node affinity on `metadata.name` (matchFields),
which the simulated scheduler honours, plus the DaemonSet tolerations; labels
`controller-revision-hash` and `pod-template-generation`. A template change
(new generation) replaces pods one node at a time (RollingUpdate,
maxUnavailable 1), each once the others are Ready. Events `SuccessfulCreate`
"Created pod: <p>" / `SuccessfulDelete` from `daemonset-controller`.
Status: currentNumberScheduled, numberMisscheduled, desiredNumberScheduled,
numberReady, observedGeneration, updatedNumberScheduled, numberAvailable,
numberUnavailable (omitempty).

Ground truth per DaemonSet uid: `rollout_started:<g>`, `rollout_complete:<g>`, `ready:<n>`.
"""

from __future__ import annotations

from typing import Any

from tracewatch.sim.controllers.base import (
    ObjKey,
    OwnedPodsController,
    controller_uid,
    pod_is_ready,
    ref_of,
    status_update,
)
from tracewatch.sim.controllers.replicaset import pod_from_template
from tracewatch.sim.controllers.rollout import template_hash
from tracewatch.sim.errors import ApiError
from tracewatch.sim.timestamps import now_ns

COMPONENT = "daemonset-controller"
MANAGER = "kube-controller-manager"
_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
]


def target_node(pod: dict[str, Any]) -> str | None:
    """The node a DaemonSet pod is for (its matchFields affinity, or nodeName)."""
    spec = pod.get("spec") or {}
    terms = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    ).get("nodeSelectorTerms") or ()
    for term in terms:
        for expr in term.get("matchFields") or ():
            if expr.get("key") == "metadata.name" and expr.get("values"):
                return expr["values"][0]
    return spec.get("nodeName")


class DaemonSetController(OwnedPodsController):
    """Keeps one pod of each DaemonSet on every node."""

    KIND = "DaemonSet"
    NAME = "daemonset"

    def on_daemonset(self, type_: str, ds: dict[str, Any]) -> None:
        self.on_owner(type_, ds)

    def on_node(self, type_: str, node: dict[str, Any]) -> None:
        for stored in self._ctx.registry.store.items("daemonsets"):
            obj = stored.obj
            self.enqueue((obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def _event(self, stored: Any, ds: dict[str, Any], reason: str, message: str) -> None:
        self._ctx.recorder.legacy(
            about=ref_of(stored, ds),
            at_ns=now_ns(),
            reason=reason,
            message=message,
            component=COMPONENT,
            host="",
        )

    def sync(self, key: ObjKey) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("daemonsets", key)
        if stored is None:
            return
        ds = stored.obj
        meta = ds["metadata"]
        generation = str(meta.get("generation") or 1)
        revision = template_hash(ds["spec"].get("template") or {})
        nodes = [s.obj["metadata"]["name"] for s in registry.store.items("nodes")]
        by_node: dict[str, list[dict[str, Any]]] = {}
        for _, pod_key in self._index.dependents(stored.uid, resource="pods"):
            pod_stored = registry.store.get("pods", pod_key)
            if pod_stored is None or controller_uid(pod_stored.obj) != stored.uid:
                continue
            pod = pod_stored.obj
            by_node.setdefault(target_node(pod) or "", []).append(pod)
        live = {
            n: [p for p in pods if not p["metadata"].get("deletionTimestamp")]
            for n, pods in by_node.items()
        }
        if not meta.get("deletionTimestamp"):
            for node in nodes:
                if not by_node.get(node):
                    self._create(stored, ds, node, generation, revision)
            old = [
                p
                for n in nodes
                for p in live.get(n, ())
                if (p["metadata"].get("labels") or {}).get("pod-template-generation") != generation
            ]
            everyone_ready = all(pod_is_ready(p) for n in nodes for p in live.get(n, ()))
            terminating = any(
                p["metadata"].get("deletionTimestamp") for pods in by_node.values() for p in pods
            )
            if old and everyone_ready and not terminating:
                victim = old[0]
                try:
                    registry.delete(
                        "pods", namespace=meta["namespace"], name=victim["metadata"]["name"]
                    )
                    self._event(
                        stored, ds, "SuccessfulDelete", f"Deleted pod: {victim['metadata']['name']}"
                    )
                except ApiError:
                    pass
        scheduled = sum(1 for n in nodes if live.get(n))
        ready = sum(1 for n in nodes for p in live.get(n, ()) if pod_is_ready(p))
        updated = sum(
            1
            for n in nodes
            for p in live.get(n, ())
            if (p["metadata"].get("labels") or {}).get("pod-template-generation") == generation
        )
        desired = len(nodes)
        status: dict[str, Any] = {
            "currentNumberScheduled": scheduled,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "observedGeneration": int(generation),
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
            "numberUnavailable": desired - ready,
        }
        for field in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
            if not status[field]:
                del status[field]
        if status == ds.get("status"):
            return
        at = now_ns()
        if (
            status_update(
                registry,
                "daemonsets",
                namespace=meta["namespace"],
                name=meta["name"],
                status=status,
                manager=MANAGER,
                at_ns=at,
                uid=stored.uid,
            )
            is None
        ):
            return
        if ready == desired and updated == desired:
            registry.truth.record(stored.uid, f"ready:{desired}", at)
            registry.truth.record(stored.uid, f"rollout_complete:{generation}", at)

    def _create(
        self, stored: Any, ds: dict[str, Any], node: str, generation: str, revision: str
    ) -> None:
        pod = pod_from_template(ds)
        spec = pod["spec"] = dict(pod["spec"])
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": [node]}
                            ]
                        }
                    ]
                }
            }
        }
        spec["tolerations"] = [*(spec.get("tolerations") or ()), *_TOLERATIONS]
        labels = pod["metadata"].setdefault("labels", {})
        labels["controller-revision-hash"] = revision
        labels["pod-template-generation"] = generation
        created = self._ctx.registry.create(
            "pods", pod, namespace=ds["metadata"]["namespace"], manager=MANAGER
        )
        self._event(
            stored, ds, "SuccessfulCreate", f"Created pod: {created.obj['metadata']['name']}"
        )
