"""The StatefulSet controller (pkg/controller/statefulset/stateful_set_control.go), simulated.

Pods are `<sts>-<ordinal>` with labels `controller-revision-hash`,
`statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index`,
`hostname`/`subdomain` set, and one volume per volumeClaimTemplate backed by the
claim `<template>-<sts>-<ordinal>`, created (if missing) before the pod.
OrderedReady creates ordinal i only once 0..i-1 are Running and Ready, and
scales down from the highest ordinal one at a time; Parallel creates and deletes
all at once. A RollingUpdate replaces pods whose revision differs from the update
revision, highest ordinal first, one at a time, each once all others are Ready.
Revisions are ControllerRevisions `<sts>-<hash>` owned by the set.
Events (`statefulset-controller`): `create Claim <c> Pod <p> in StatefulSet <s> success`,
`create Pod <p> in StatefulSet <s> successful`, `delete Pod <p> in StatefulSet <s> successful`.
Status: observedGeneration, replicas, readyReplicas, currentReplicas,
updatedReplicas, currentRevision, updateRevision, collisionCount, availableReplicas.

Ground truth per StatefulSet uid: `rollout_started:<g>`, `rollout_complete:<g>` (all
replicas updated and Ready at generation g), `ready:<n>`.
Not simulated: partitions, OnDelete, PVC retention policies, minReadySeconds.
"""

from __future__ import annotations

from typing import Any

from tracewatch.sim.controllers.base import (
    ObjKey,
    OwnedPodsController,
    controller_uid,
    owner_reference,
    pod_is_ready,
    ref_of,
    status_update,
)
from tracewatch.sim.controllers.replicaset import pod_from_template
from tracewatch.sim.controllers.rollout import template_hash
from tracewatch.sim.errors import ApiError
from tracewatch.sim.timestamps import now_ns

COMPONENT = "statefulset-controller"
MANAGER = "kube-controller-manager"
REVISION_LABEL = "controller-revision-hash"


class StatefulSetController(OwnedPodsController):
    """Creates, replaces and removes a StatefulSet's ordinal pods and their claims."""

    KIND = "StatefulSet"
    NAME = "statefulset"

    def on_statefulset(self, type_: str, sts: dict[str, Any]) -> None:
        self.on_owner(type_, sts)

    def _revision(self, stored: Any, sts: dict[str, Any]) -> str:
        """The update revision's name, creating its ControllerRevision if missing."""
        registry = self._ctx.registry
        meta = sts["metadata"]
        template = sts["spec"].get("template") or {}
        digest = template_hash(template)
        name = f"{meta['name']}-{digest}"
        if registry.store.get("controllerrevisions", (meta["namespace"], name)) is None:
            existing = len(self._index.dependents(meta["uid"], resource="controllerrevisions"))
            labels = dict((sts["spec"].get("selector") or {}).get("matchLabels") or {})
            labels["controller.kubernetes.io/hash"] = digest
            registry.create(
                "controllerrevisions",
                {
                    "apiVersion": "apps/v1",
                    "kind": "ControllerRevision",
                    "metadata": {
                        "name": name,
                        "namespace": meta["namespace"],
                        "labels": labels,
                        "ownerReferences": [owner_reference(sts)],
                    },
                    "data": {"spec": {"template": {**template, "$patch": "replace"}}},
                    "revision": existing + 1,
                },
                namespace=meta["namespace"],
                manager=MANAGER,
            )
        return name

    def _event(self, stored: Any, sts: dict[str, Any], reason: str, message: str) -> None:
        self._ctx.recorder.legacy(
            about=ref_of(stored, sts),
            at_ns=now_ns(),
            reason=reason,
            message=message,
            component=COMPONENT,
            host="",
        )

    def _create(self, stored: Any, sts: dict[str, Any], ordinal: int, revision: str) -> None:
        registry = self._ctx.registry
        meta, spec = sts["metadata"], sts["spec"]
        namespace, set_name = meta["namespace"], meta["name"]
        pod_name = f"{set_name}-{ordinal}"
        pod = pod_from_template(sts, name=pod_name)
        pod["spec"] = dict(pod["spec"])
        volumes = list(pod["spec"].get("volumes") or ())
        for template in spec.get("volumeClaimTemplates") or ():
            claim_name = f"{template['metadata']['name']}-{set_name}-{ordinal}"
            volumes.append(
                {
                    "name": template["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim_name},
                }
            )
            if registry.store.get("persistentvolumeclaims", (namespace, claim_name)) is None:
                labels = dict((spec.get("selector") or {}).get("matchLabels") or {})
                labels.update((template.get("metadata") or {}).get("labels") or {})
                registry.create(
                    "persistentvolumeclaims",
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim_name, "labels": labels},
                        "spec": dict(template.get("spec") or {}),
                    },
                    namespace=namespace,
                    manager=MANAGER,
                )
                self._event(
                    stored,
                    sts,
                    "SuccessfulCreate",
                    f"create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success",
                )
        if volumes:
            pod["spec"]["volumes"] = volumes
        pod["spec"]["hostname"] = pod_name
        if spec.get("serviceName"):
            pod["spec"]["subdomain"] = spec["serviceName"]
        labels = pod["metadata"].setdefault("labels", {})
        labels[REVISION_LABEL] = revision
        labels["statefulset.kubernetes.io/pod-name"] = pod_name
        labels["apps.kubernetes.io/pod-index"] = str(ordinal)
        registry.create("pods", pod, namespace=namespace, manager=MANAGER)
        self._event(
            stored,
            sts,
            "SuccessfulCreate",
            f"create Pod {pod_name} in StatefulSet {set_name} successful",
        )

    def _delete(self, stored: Any, sts: dict[str, Any], pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        try:
            self._ctx.registry.delete("pods", namespace=pod["metadata"]["namespace"], name=name)
        except ApiError:
            return
        self._event(
            stored,
            sts,
            "SuccessfulDelete",
            f"delete Pod {name} in StatefulSet {sts['metadata']['name']} successful",
        )

    def sync(self, key: ObjKey) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("statefulsets", key)
        if stored is None:
            return
        sts = stored.obj
        meta, spec = sts["metadata"], sts["spec"]
        replicas = int(spec.get("replicas", 1))
        pods: dict[int, dict[str, Any]] = {}
        for _, pod_key in self._index.dependents(stored.uid, resource="pods"):
            pod_stored = registry.store.get("pods", pod_key)
            if pod_stored is None:
                continue
            pod = pod_stored.obj
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if controller_uid(pod) == stored.uid and ordinal.isdigit():
                pods[int(ordinal)] = pod
        update_revision = self._revision(stored, sts)
        if not meta.get("deletionTimestamp"):
            self._manage(stored, sts, pods, replicas, update_revision)
        self._update_status(stored, sts, pods, replicas, update_revision)

    def _manage(
        self,
        stored: Any,
        sts: dict[str, Any],
        pods: dict[int, dict[str, Any]],
        replicas: int,
        revision: str,
    ) -> None:
        spec = sts["spec"]
        ordered = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"

        def healthy(pod: dict[str, Any]) -> bool:
            running = (pod.get("status") or {}).get("phase") == "Running"
            return running and pod_is_ready(pod) and not pod["metadata"].get("deletionTimestamp")

        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                self._create(stored, sts, ordinal, revision)
                if ordered:
                    return
                continue
            if (pod.get("status") or {}).get("phase") == "Failed" and not pod["metadata"].get(
                "deletionTimestamp"
            ):
                self._delete(stored, sts, pod)
                if ordered:
                    return
                continue
            if ordered and not healthy(pod):
                return
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in condemned:
            pod = pods[ordinal]
            if pod["metadata"].get("deletionTimestamp"):
                if ordered:
                    return
                continue
            if ordered and not all(healthy(pods[o]) for o in pods if o != ordinal):
                return
            self._delete(stored, sts, pod)
            if ordered:
                return
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy != "RollingUpdate":
            return
        live = [pods[o] for o in range(replicas) if o in pods]
        if len(live) < replicas or not all(healthy(p) for p in live):
            return
        for ordinal in sorted(range(replicas), reverse=True):
            pod = pods[ordinal]
            if (pod["metadata"].get("labels") or {}).get(REVISION_LABEL) != revision:
                self._delete(stored, sts, pod)
                return

    def _update_status(
        self,
        stored: Any,
        sts: dict[str, Any],
        pods: dict[int, dict[str, Any]],
        replicas: int,
        update_revision: str,
    ) -> None:
        meta = sts["metadata"]
        old = sts.get("status") or {}
        current_revision = old.get("currentRevision") or update_revision
        live = [p for p in pods.values() if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in live if pod_is_ready(p))
        revisions = [(p["metadata"].get("labels") or {}).get(REVISION_LABEL) for p in live]
        updated = revisions.count(update_revision)
        current = revisions.count(current_revision)
        generation = int(meta.get("generation") or 1)
        if updated == replicas and ready == replicas and len(live) == replicas:
            # completeRollingUpdate: the update revision becomes current.
            current_revision, current = update_revision, updated
        status: dict[str, Any] = {
            "observedGeneration": generation,
            "replicas": len(live),
            "readyReplicas": ready,
            "currentReplicas": current,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update_revision,
            "collisionCount": 0,
            "availableReplicas": ready,
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "availableReplicas")}
        if status == old:
            return
        at = now_ns()
        written = status_update(
            self._ctx.registry,
            "statefulsets",
            namespace=meta["namespace"],
            name=meta["name"],
            status=status,
            manager=MANAGER,
            at_ns=at,
            uid=stored.uid,
        )
        if written is None:
            return
        if ready == replicas and len(live) == replicas:
            truth = self._ctx.registry.truth
            truth.record(stored.uid, f"ready:{replicas}", at)
            if updated == replicas:
                truth.record(stored.uid, f"rollout_complete:{generation}", at)
