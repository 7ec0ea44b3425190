"""The Deployment controller (pkg/controller/deployment: sync.go, rolling.go, recreate.go,
progress.go), simulated.

Per sync of one Deployment (it only ever acts on the latest template, so an
update during an unfinished rollout supersedes it):
- the new ReplicaSet is the owned one whose template equals the Deployment's
  (ignoring `pod-template-hash`); if none, it is created as `<deploy>-<hash>`
  with the hash label added to labels, selector and template, annotations
  `deployment.kubernetes.io/revision` (max old revision + 1), `desired-replicas`
  and `max-replicas`, an Event `Scaled up replica set <rs> to <n>`, and the
  Deployment gets the revision annotation and Progressing=True
  `NewReplicaSetCreated` (an existing one: `FoundNewReplicaSet`);
- RollingUpdate (maxSurge / maxUnavailable, 25%/25% by default: surge rounds
  up, unavailable down, both zero means unavailable 1): scale the new RS up to
  at most replicas + maxSurge pods in total; else scale old RSs down (unhealthy
  pods first) while at least replicas - maxUnavailable stay available. Each
  scale: `Scaled up|down replica set <rs> to <n> from <m>` (ScalingReplicaSet);
- Recreate: old RSs to 0, wait until their pods are gone, then the new RS up;
- status (`deployment_status`; only written when it changes): observedGeneration, replicas,
  updatedReplicas, readyReplicas, availableReplicas, unavailableReplicas (all
  omitempty), conditions Available (MinimumReplicasAvailable /
  MinimumReplicasUnavailable) and Progressing (ReplicaSetUpdated on progress,
  NewReplicaSetAvailable once complete, False ProgressDeadlineExceeded when no
  progress for progressDeadlineSeconds since its lastUpdateTime), each with
  lastUpdateTime / lastTransitionTime as SetDeploymentCondition moves them.

Ground truth per Deployment uid: `rollout_started:<g>` (the write that made
generation g), `rollout_complete:<g>`, `superseded:<g>` (a newer generation
arrived before g completed), `rollout_failed:<g>` (ProgressDeadlineExceeded).
Not simulated: pause/rollback subresources, proportional scaling of several
old ReplicaSets, revisionHistoryLimit cleanup, hash collisions.
"""

from __future__ import annotations

from typing import Any

import orjson

from tracewatch.sim.controllers.base import (
    Context,
    ObjKey,
    WorkQueue,
    controller_uid,
    owner_reference,
    parse_time,
    ref_of,
    set_condition,
    spec_update,
    status_fields,
)
from tracewatch.sim.controllers.deployment_status import deployment_status
from tracewatch.sim.controllers.index import OwnerIndex
from tracewatch.sim.controllers.rollout import (
    HASH_LABEL,
    REVISION,
    fenceposts,
    replicas_of,
    revision_of,
    status_count,
    template_hash,
    without_hash,
)
from tracewatch.sim.store import Stored
from tracewatch.sim.timestamps import now_ns

COMPONENT = "deployment-controller"
MANAGER = "kube-controller-manager"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SKIPPED_ANNOTATIONS = (REVISION, "kubectl.kubernetes.io/last-applied-configuration")


class DeploymentController:
    """Rolls Deployments out through their ReplicaSets and reports progress in their status."""

    def __init__(self, *, ctx: Context, index: OwnerIndex) -> None:
        self._ctx = ctx
        self._index = index
        self.queue = WorkQueue(name="deployment", sync=self.sync, tasks=ctx.tasks)
        self._generation: dict[str, int] = {}
        self._completed: dict[str, int] = {}

    # reacting to the store

    def enqueue(self, key: ObjKey, *, after: float | None = None) -> None:
        options = self._ctx.options
        delay = options.delay(options.controller_sync, self._ctx.rng) if after is None else after
        self.queue.add(key, after=delay)

    def on_deployment(self, type_: str, d: dict[str, Any]) -> None:
        meta = d["metadata"]
        uid = meta["uid"]
        if type_ == "DELETED":
            self._generation.pop(uid, None)
            self._completed.pop(uid, None)
            return
        generation = int(meta.get("generation") or 1)
        last = self._generation.get(uid)
        if last is None or generation > last:
            # The listener runs inside the write: this instant is the update's.
            at = now_ns()
            truth = self._ctx.registry.truth
            if last is not None and self._completed.get(uid, 0) < last:
                truth.record(uid, f"superseded:{last}", at)
            truth.record(uid, f"rollout_started:{generation}", at)
            self._generation[uid] = generation
        self.enqueue((meta["namespace"], meta["name"]))

    def on_replicaset(self, type_: str, rs: dict[str, Any]) -> None:
        for ref in rs["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Deployment":
                self.enqueue((rs["metadata"]["namespace"], ref["name"]))

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        """Recreate waits for old pods to be gone: a pod deletion wakes its Deployment."""
        if type_ != "DELETED":
            return
        rs_uid = controller_uid(pod)
        node = self._index.locate(rs_uid) if rs_uid else None
        if node is None or node[0] != "replicasets":
            return
        rs = self._ctx.registry.store.get("replicasets", node[1])
        if rs is not None:
            self.on_replicaset("MODIFIED", rs.obj)

    # sync

    def _owned(self, uid: str) -> list[dict[str, Any]]:
        store = self._ctx.registry.store
        out = []
        for _, key in self._index.dependents(uid, resource="replicasets"):
            stored = store.get("replicasets", key)
            if stored is not None:
                rs = stored.obj
                if controller_uid(rs) == uid:
                    out.append(rs)
        out.sort(
            key=lambda r: (
                parse_time(r["metadata"].get("creationTimestamp")) or 0,
                r["metadata"]["name"],
            )
        )
        return out

    def _split(
        self, d: dict[str, Any], rss: list[dict[str, Any]]
    ) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        wanted = without_hash(d["spec"].get("template") or {})
        new = next(
            (rs for rs in rss if without_hash(rs["spec"].get("template") or {}) == wanted), None
        )
        return new, [rs for rs in rss if rs is not new]

    def sync(self, key: ObjKey) -> None:
        store = self._ctx.registry.store
        stored = store.get("deployments", key)
        if stored is None:
            return
        d = stored.obj
        uid = stored.uid
        at = now_ns()
        rss = self._owned(uid)
        new, old = self._split(d, rss)
        if d["metadata"].get("deletionTimestamp") or d["spec"].get("paused"):
            self._sync_status(key, new, at)
            return
        recreate = ((d["spec"].get("strategy") or {}).get("type")) == "Recreate"
        if recreate:
            self._recreate(stored, d, new, old, at)
        else:
            new = self._ensure_new(stored, d, new, old, at)
            self._rolling(d, new, old)
        refreshed = store.get("deployments", key)
        if refreshed is None:
            return
        new, _ = self._split(refreshed.obj, self._owned(uid))
        self._sync_status(key, new, now_ns())

    # the new ReplicaSet

    def _ensure_new(
        self,
        stored: Stored,
        d: dict[str, Any],
        new: dict[str, Any] | None,
        old: list[dict[str, Any]],
        at: int,
        *,
        replicas: int | None = None,
    ) -> dict[str, Any]:
        registry = self._ctx.registry
        meta, spec = d["metadata"], d["spec"]
        revision = str(max((revision_of(rs) for rs in old), default=0) + 1)
        surge, _ = fenceposts(d)
        desired = int(spec.get("replicas", 1))
        conditions = list((d.get("status") or {}).get("conditions") or ())
        if new is not None:
            if revision_of(new) < int(revision):
                # A rollback to an older template: its RS takes the next revision.
                def bump(obj: dict[str, Any]) -> None:
                    obj["metadata"].setdefault("annotations", {})[REVISION] = revision

                registry.update(
                    "replicasets",
                    namespace=meta["namespace"],
                    name=new["metadata"]["name"],
                    mutate=bump,
                    manager=MANAGER,
                    at_ns=at,
                )
                new["metadata"].setdefault("annotations", {})[REVISION] = revision
            changed = (
                set_condition(
                    conditions,
                    type_="Progressing",
                    status="True",
                    reason="FoundNewReplicaSet",
                    message=f'Found new replica set "{new["metadata"]["name"]}"',
                    at_ns=at,
                    update_time=True,
                )
                if not any(c["type"] == "Progressing" for c in conditions)
                else False
            )
            self._write_meta_status(d, str(revision_of(new)), conditions if changed else None, at)
            return new
        template = orjson.loads(orjson.dumps(spec.get("template") or {}))
        pod_hash = template_hash(
            template, collision_count=int((d.get("status") or {}).get("collisionCount", 0))
        )
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = orjson.loads(orjson.dumps(spec.get("selector") or {}))
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        if replicas is None:
            total = sum(replicas_of(rs) for rs in old)
            replicas = max(0, min(desired + surge - total, desired))
        annotations = {
            k: v
            for k, v in (meta.get("annotations") or {}).items()
            if k not in _SKIPPED_ANNOTATIONS
        }
        annotations.update(
            {
                DESIRED_REPLICAS: str(desired),
                MAX_REPLICAS: str(desired + surge),
                REVISION: revision,
            }
        )
        rs_meta: dict[str, Any] = {
            "name": f"{meta['name']}-{pod_hash}",
            "namespace": meta["namespace"],
            "labels": dict(template["metadata"]["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_reference(d)],
        }
        rs_spec: dict[str, Any] = {"replicas": replicas}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        rs_spec["selector"] = selector
        rs_spec["template"] = template
        created = registry.create(
            "replicasets",
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": rs_meta, "spec": rs_spec},
            namespace=meta["namespace"],
            manager=MANAGER,
            at_ns=at,
        )
        rs = created.obj
        if replicas > 0:
            self._event(stored, d, f"Scaled up replica set {rs_meta['name']} to {replicas}")
        set_condition(
            conditions,
            type_="Progressing",
            status="True",
            reason="NewReplicaSetCreated",
            message=f'Created new replica set "{rs_meta["name"]}"',
            at_ns=at,
            update_time=True,
        )
        self._write_meta_status(d, revision, conditions, at)
        return rs

    def _write_meta_status(
        self, d: dict[str, Any], revision: str, conditions: list[dict[str, Any]] | None, at: int
    ) -> None:
        """SetDeploymentRevision plus a Progressing change, in one UpdateStatus as the real one."""
        meta = d["metadata"]
        current = (meta.get("annotations") or {}).get(REVISION)
        revision_changes = current is None or int(current) < int(revision)
        if not revision_changes and conditions is None:
            return

        def apply(obj: dict[str, Any]) -> None:
            if revision_changes:
                obj["metadata"].setdefault("annotations", {})[REVISION] = revision
            if conditions is not None:
                obj.setdefault("status", {})["conditions"] = conditions

        self._ctx.registry.update(
            "deployments",
            namespace=meta["namespace"],
            name=meta["name"],
            mutate=apply,
            manager=MANAGER,
            at_ns=at,
            subresource="status",
            fields=status_fields,
            uid=meta["uid"],
        )

    # strategies

    def _scale(self, d: dict[str, Any], rs: dict[str, Any], to: int) -> bool:
        """scaleReplicaSet: spec.replicas and the replica annotations, plus the Event."""
        frm = replicas_of(rs)
        if frm == to:
            return False
        surge, _ = fenceposts(d)
        desired = int(d["spec"].get("replicas", 1))
        at = now_ns()

        def apply(obj: dict[str, Any]) -> None:
            obj["spec"]["replicas"] = to
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[DESIRED_REPLICAS] = str(desired)
            annotations[MAX_REPLICAS] = str(desired + surge)

        written = spec_update(
            self._ctx.registry,
            "replicasets",
            namespace=rs["metadata"]["namespace"],
            name=rs["metadata"]["name"],
            mutate=apply,
            manager=MANAGER,
            at_ns=at,
        )
        if written is None:
            return False
        rs["spec"]["replicas"] = to
        stored = self._ctx.registry.store.get(
            "deployments", (d["metadata"]["namespace"], d["metadata"]["name"])
        )
        if stored is not None:
            direction = "up" if to > frm else "down"
            self._event(
                stored,
                d,
                f"Scaled {direction} replica set {rs['metadata']['name']} to {to} from {frm}",
            )
        return True

    def _rolling(self, d: dict[str, Any], new: dict[str, Any], old: list[dict[str, Any]]) -> None:
        desired = int(d["spec"].get("replicas", 1))
        surge, unavailable = fenceposts(d)
        everything = [*old, new]
        # reconcileNewReplicaSet
        current_new = replicas_of(new)
        if current_new > desired:
            if self._scale(d, new, desired):
                return
        elif current_new < desired:
            total = sum(replicas_of(rs) for rs in everything)
            room = desired + surge - total
            if room > 0 and self._scale(d, new, current_new + min(room, desired - current_new)):
                return
        # reconcileOldReplicaSets
        active_old = [rs for rs in old if replicas_of(rs) > 0]
        if not active_old:
            return
        all_pods = sum(replicas_of(rs) for rs in everything)
        min_available = desired - unavailable
        new_unavailable = replicas_of(new) - status_count(new, "availableReplicas")
        max_scaled_down = all_pods - min_available - new_unavailable
        if max_scaled_down <= 0:
            return
        scaled = 0
        # cleanupUnhealthyReplicas: old pods that are not available go first.
        for rs in active_old:
            if scaled >= max_scaled_down:
                break
            unhealthy = replicas_of(rs) - status_count(rs, "availableReplicas")
            if unhealthy <= 0:
                continue
            down = min(max_scaled_down - scaled, unhealthy)
            if self._scale(d, rs, replicas_of(rs) - down):
                scaled += down
        # scaleDownOldReplicaSetsForRollingUpdate
        available = sum(status_count(rs, "availableReplicas") for rs in everything)
        budget = available - min_available
        done = 0
        for rs in active_old:
            if done >= budget:
                break
            if replicas_of(rs) == 0:
                continue
            down = min(replicas_of(rs), budget - done)
            if self._scale(d, rs, replicas_of(rs) - down):
                done += down

    def _recreate(
        self,
        stored: Stored,
        d: dict[str, Any],
        new: dict[str, Any] | None,
        old: list[dict[str, Any]],
        at: int,
    ) -> None:
        scaled = False
        for rs in old:
            scaled |= self._scale(d, rs, 0)
        if scaled:
            return
        store = self._ctx.registry.store
        for rs in old:
            for _, key in self._index.dependents(rs["metadata"]["uid"], resource="pods"):
                pod = store.get("pods", key)
                if pod is not None:
                    phase = (pod.obj.get("status") or {}).get("phase")
                    if phase not in ("Succeeded", "Failed"):
                        return  # oldPodsRunning: wait for them to go
        desired = int(d["spec"].get("replicas", 1))
        if new is None:
            self._ensure_new(stored, d, None, old, at, replicas=desired)
        else:
            self._ensure_new(stored, d, new, old, at)
            self._scale(d, new, desired)

    # status

    def _sync_status(self, key: ObjKey, new: dict[str, Any] | None, at: int) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("deployments", key)
        if stored is None:
            return
        d = stored.obj
        meta, uid = d["metadata"], stored.uid
        verdict = deployment_status(d, self._owned(uid), new, at_ns=at)
        if verdict.recheck_after_s is not None:
            # requeueStuckDeployment: look again when the deadline passes.
            self.enqueue(key, after=verdict.recheck_after_s)
        if verdict.status != (d.get("status") or {}):
            status = verdict.status

            def apply(obj: dict[str, Any]) -> None:
                obj["status"] = status

            written = registry.update(
                "deployments",
                namespace=meta["namespace"],
                name=meta["name"],
                mutate=apply,
                manager=MANAGER,
                at_ns=at,
                subresource="status",
                fields=status_fields,
                uid=uid,
            )
            if written is None:
                return
        generation = verdict.status["observedGeneration"]
        if verdict.complete and self._completed.get(uid, 0) < generation:
            self._completed[uid] = generation
            registry.truth.record(uid, f"rollout_complete:{generation}", at)
        if verdict.timed_out:
            registry.truth.record(uid, f"rollout_failed:{generation}", at)

    def _event(self, stored: Stored, d: dict[str, Any], message: str) -> None:
        self._ctx.recorder.legacy(
            about=ref_of(stored, d),
            at_ns=now_ns(),
            reason="ScalingReplicaSet",
            message=message,
            component=COMPONENT,
            host="",
        )
