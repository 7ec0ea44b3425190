"""The PV controller (pkg/controller/volume/persistentvolume/pv_controller.go) and an external
provisioner (sig-storage-lib-external-provisioner), simulated.

A Pending claim is, after the `pv_bind` latency:
- bound to an Available PersistentVolume that fits (same class, enough
  capacity, the access modes) if there is one;
- else, for a WaitForFirstConsumer class without `volume.kubernetes.io/selected-node`:
  left Pending with a `WaitForFirstConsumer` event ("waiting for first consumer
  to be created before binding"), until the scheduler picks a node for a pod using it;
- else handed to its class's provisioner: annotations
  `volume.beta.kubernetes.io/storage-provisioner` and
  `volume.kubernetes.io/storage-provisioner`, an `ExternalProvisioning` event
  from `persistentvolume-controller`; the provisioner then writes `Provisioning`
  ("External provisioner is provisioning volume for claim ..."), creates the
  PV `pvc-<claim uid>` (claimRef set, `pv.kubernetes.io/provisioned-by`) after
  the `provision` latency, and `ProvisioningSucceeded`.
Binding: the PV gets its claimRef (and `pv.kubernetes.io/bound-by-controller`
when the controller chose it) and phase Bound; the claim `spec.volumeName`,
annotations `pv.kubernetes.io/bind-completed` / `bound-by-controller`, and
status phase Bound with accessModes and capacity.

Ground truth per claim uid: `waiting_for_consumer`, `provisioning_started`,
`provisioned` (the PV exists), `bound`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tracewatch.sim.controllers.base import Context, ObjKey, WorkQueue, ref_of
from tracewatch.sim.placement import SELECTED_NODE, quantity
from tracewatch.sim.storageclasses import StorageClass, class_for
from tracewatch.sim.timestamps import now_ns

COMPONENT = "persistentvolume-controller"
MANAGER = "kube-controller-manager"
PROVISIONER_ANNOTATIONS = (
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
)


def _request(pvc: dict[str, Any]) -> str:
    return str(
        (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
            "storage", "1Gi"
        )
    )


class PersistentVolumeController:
    """Binds claims to volumes, and provisions volumes for claims of a StorageClass."""

    def __init__(self, *, ctx: Context) -> None:
        self._ctx = ctx
        self.queue = WorkQueue(name="persistentvolume", sync=self.sync, tasks=ctx.tasks)
        self._provisioning: set[str] = set()
        self._waiting: set[str] = set()

    def enqueue(self, key: ObjKey, *, after: float | None = None) -> None:
        options = self._ctx.options
        delay = options.delay(options.pv_bind, self._ctx.rng) if after is None else after
        self.queue.add(key, after=delay)

    def on_claim(self, type_: str, pvc: dict[str, Any]) -> None:
        if type_ == "DELETED":
            self._provisioning.discard(pvc["metadata"]["uid"])
            self._waiting.discard(pvc["metadata"]["uid"])
            return
        if (pvc.get("status") or {}).get("phase") != "Bound":
            self.enqueue((pvc["metadata"]["namespace"], pvc["metadata"]["name"]))

    def on_volume(self, type_: str, pv: dict[str, Any]) -> None:
        ref = (pv.get("spec") or {}).get("claimRef")
        if type_ != "DELETED" and ref:
            self.enqueue((ref.get("namespace", ""), ref.get("name", "")))

    def _event(
        self,
        stored: Any,
        obj: dict[str, Any],
        reason: str,
        message: str,
        *,
        component: str = COMPONENT,
        warning: bool = False,
    ) -> None:
        self._ctx.recorder.legacy(
            about=ref_of(stored, obj),
            at_ns=now_ns(),
            reason=reason,
            message=message,
            component=component,
            host="",
            type_="Warning" if warning else "Normal",
        )

    def sync(self, key: ObjKey) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("persistentvolumeclaims", key)
        if stored is None:
            return
        pvc = stored.obj
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        if meta.get("deletionTimestamp") or (pvc.get("status") or {}).get("phase") == "Bound":
            return
        truth = registry.truth
        volume = self._find_volume(pvc)
        if volume is not None:
            self._bind(stored.uid, pvc, volume)
            return
        sc = class_for(self._ctx.options.storage_classes, spec.get("storageClassName"))
        if sc is None:
            return
        annotations = meta.get("annotations") or {}
        if not sc.immediate and SELECTED_NODE not in annotations:
            if stored.uid not in self._waiting:
                self._waiting.add(stored.uid)
                truth.record(stored.uid, "waiting_for_consumer", now_ns())
                self._event(
                    stored,
                    pvc,
                    "WaitForFirstConsumer",
                    "waiting for first consumer to be created before binding",
                )
            return
        if stored.uid in self._provisioning:
            return
        self._provisioning.add(stored.uid)
        at = now_ns()

        def hand_over(obj: dict[str, Any]) -> None:
            notes = obj["metadata"].setdefault("annotations", {})
            for name in PROVISIONER_ANNOTATIONS:
                notes[name] = sc.provisioner

        written = registry.update(
            "persistentvolumeclaims",
            namespace=meta["namespace"],
            name=meta["name"],
            mutate=hand_over,
            manager=MANAGER,
            at_ns=at,
            uid=stored.uid,
        )
        if written is None:
            return
        truth.record(stored.uid, "provisioning_started", at)
        self._event(
            written,
            pvc,
            "ExternalProvisioning",
            f"Waiting for a volume to be created either by the external provisioner "
            f"'{sc.provisioner}' or manually by the system administrator. If volume creation "
            "is delayed, please verify that the provisioner is running and correctly registered.",
        )
        self._ctx.tasks.spawn(self._provision(key, stored.uid, sc), name=f"provision {key[1]}")

    async def _provision(self, key: ObjKey, uid: str, sc: StorageClass) -> None:
        options, registry = self._ctx.options, self._ctx.registry
        await asyncio.sleep(options.delay(options.controller_sync, self._ctx.rng))
        stored = registry.store.get("persistentvolumeclaims", key)
        if stored is None or stored.uid != uid:
            return
        pvc = stored.obj
        self._event(
            stored,
            pvc,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{key[0]}/{key[1]}"',
            component=sc.provisioner_instance or sc.provisioner,
        )
        await asyncio.sleep(options.delay(options.provision, self._ctx.rng))
        stored = registry.store.get("persistentvolumeclaims", key)
        if stored is None or stored.uid != uid:
            return
        pvc = stored.obj
        node = (pvc["metadata"].get("annotations") or {}).get(SELECTED_NODE)
        pv_spec: dict[str, Any] = {
            "accessModes": list(pvc["spec"].get("accessModes") or ["ReadWriteOnce"]),
            "capacity": {"storage": _request(pvc)},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": key[0],
                "name": key[1],
                "uid": uid,
                "resourceVersion": str(stored.rv),
            },
            "persistentVolumeReclaimPolicy": sc.reclaim_policy,
            "storageClassName": sc.name,
            "volumeMode": "Filesystem",
        }
        if node:
            pv_spec["hostPath"] = {
                "path": f"/var/local-path-provisioner/pvc-{uid}_{key[0]}_{key[1]}",
                "type": "DirectoryOrCreate",
            }
            pv_spec["nodeAffinity"] = {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            }
        else:
            pv_spec["csi"] = {"driver": sc.provisioner, "volumeHandle": f"vol-{uid}"}
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {
                "name": f"pvc-{uid}",
                "annotations": {"pv.kubernetes.io/provisioned-by": sc.provisioner},
            },
            "spec": pv_spec,
        }
        at = now_ns()
        registry.create("persistentvolumes", pv, namespace=None, manager=sc.provisioner, at_ns=at)
        registry.truth.record(uid, "provisioned", at)
        self._event(
            stored,
            pvc,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume pvc-{uid}",
            component=sc.provisioner_instance or sc.provisioner,
        )

    def _find_volume(self, pvc: dict[str, Any]) -> dict[str, Any] | None:
        """A PV pre-bound to this claim, else an Available one that fits (findBestMatchForClaim)."""
        meta, spec = pvc["metadata"], pvc.get("spec") or {}
        wanted = quantity(_request(pvc))
        modes = set(spec.get("accessModes") or ())
        klass = spec.get("storageClassName")
        best: tuple[float, dict[str, Any]] | None = None
        for stored in self._ctx.registry.store.items("persistentvolumes"):
            pv = stored.obj
            pv_spec = pv.get("spec") or {}
            ref = pv_spec.get("claimRef")
            if ref:
                if ref.get("uid") == meta["uid"] or (
                    not ref.get("uid")
                    and ref.get("name") == meta["name"]
                    and ref.get("namespace") == meta["namespace"]
                ):
                    return pv
                continue
            if spec.get("volumeName") and spec["volumeName"] != pv["metadata"]["name"]:
                continue
            if (pv.get("status") or {}).get("phase") not in (None, "Pending", "Available"):
                continue
            if (pv_spec.get("storageClassName") or "") != (klass or ""):
                continue
            size = quantity((pv_spec.get("capacity") or {}).get("storage", 0))
            if size < wanted or not modes <= set(pv_spec.get("accessModes") or ()):
                continue
            if best is None or size < best[0]:
                best = (size, pv)
        return None if best is None else best[1]

    def _bind(self, uid: str, pvc: dict[str, Any], pv: dict[str, Any]) -> None:
        registry = self._ctx.registry
        meta = pvc["metadata"]
        pv_name = pv["metadata"]["name"]
        at = now_ns()
        chose = not (pv.get("spec") or {}).get("claimRef")
        claim = registry.store.get("persistentvolumeclaims", (meta["namespace"], meta["name"]))
        if claim is None:
            return

        def claim_volume(obj: dict[str, Any]) -> None:
            obj["spec"]["claimRef"] = {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": uid,
                "resourceVersion": str(claim.rv),
            }
            if chose:
                obj["metadata"].setdefault("annotations", {})[
                    "pv.kubernetes.io/bound-by-controller"
                ] = "yes"

        def volume_bound(obj: dict[str, Any]) -> None:
            obj["status"] = {"phase": "Bound"}

        registry.update(
            "persistentvolumes",
            namespace=None,
            name=pv_name,
            mutate=claim_volume,
            manager=MANAGER,
            at_ns=at,
        )
        registry.update(
            "persistentvolumes",
            namespace=None,
            name=pv_name,
            mutate=volume_bound,
            manager=MANAGER,
            at_ns=at,
            subresource="status",
        )
        user_named = bool((pvc.get("spec") or {}).get("volumeName"))

        def claim_bound(obj: dict[str, Any]) -> None:
            obj["spec"]["volumeName"] = pv_name
            notes = obj["metadata"].setdefault("annotations", {})
            notes["pv.kubernetes.io/bind-completed"] = "yes"
            if not user_named:
                notes["pv.kubernetes.io/bound-by-controller"] = "yes"

        def claim_status(obj: dict[str, Any]) -> None:
            obj["status"] = {
                "phase": "Bound",
                "accessModes": list((pv.get("spec") or {}).get("accessModes") or ()),
                "capacity": dict((pv.get("spec") or {}).get("capacity") or {}),
            }

        if (
            registry.update(
                "persistentvolumeclaims",
                namespace=meta["namespace"],
                name=meta["name"],
                mutate=claim_bound,
                manager=MANAGER,
                at_ns=at,
                uid=uid,
            )
            is None
        ):
            return
        at = now_ns()
        if (
            registry.update(
                "persistentvolumeclaims",
                namespace=meta["namespace"],
                name=meta["name"],
                mutate=claim_status,
                manager=MANAGER,
                at_ns=at,
                subresource="status",
                uid=uid,
            )
            is not None
        ):
            self._provisioning.discard(uid)
            registry.truth.record(uid, "bound", at)
