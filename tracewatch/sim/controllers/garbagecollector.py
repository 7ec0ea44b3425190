"""The garbage collector (pkg/controller/garbagecollector), simulated over the owner index.

- Background (the default for most kinds): once an owner is gone, each dependent
  with no other existing owner is deleted (pods gracefully, through their kubelet).
- Foreground: the owner keeps `deletionTimestamp` and the `foregroundDeletion`
  finalizer (set by the API server's DELETE) while the collector deletes its
  dependents; once none is left, the finalizer is removed and the owner goes.
- Orphan: the dependents lose their owner reference to it, then the `orphan`
  finalizer is removed.
Each step happens after the `controller_sync` latency. Ground truth per owner
uid: `dependents_gone` (the collector found no dependent left, foreground only).
"""

from __future__ import annotations

import contextlib
from typing import Any

from tracewatch.sim.controllers.base import Context, WorkQueue
from tracewatch.sim.controllers.index import OwnerIndex
from tracewatch.sim.errors import ApiError
from tracewatch.sim.timestamps import now_ns

MANAGER = "kube-controller-manager"
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector:
    """Deletes dependents of deleted owners and releases owners' deletion finalizers."""

    def __init__(self, *, ctx: Context, index: OwnerIndex) -> None:
        self._ctx = ctx
        self._index = index
        self.queue = WorkQueue(name="garbagecollector", sync=self.sync, tasks=ctx.tasks)
        self._gone: set[str] = set()

    def enqueue(self, uid: str) -> None:
        options = self._ctx.options
        self.queue.add(uid, after=options.delay(options.controller_sync, self._ctx.rng))

    def observe(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        """Store listener (after the index saw the write): wake the owners that matter."""
        meta = obj["metadata"]
        uid = meta.get("uid", "")
        if type_ == "DELETED":
            if self._index.dependents(uid):
                self._gone.add(uid)
                self.enqueue(uid)
            for ref in meta.get("ownerReferences") or ():
                self.enqueue(ref["uid"])  # a foreground owner may be waiting for this one
        elif meta.get("deletionTimestamp") and {FOREGROUND, ORPHAN} & set(
            meta.get("finalizers") or ()
        ):
            self.enqueue(uid)

    def sync(self, uid: str) -> None:
        registry = self._ctx.registry
        store = registry.store
        located = self._index.locate(uid)
        dependents = self._index.dependents(uid)
        if located is None:
            if uid not in self._gone:
                return
            self._gone.discard(uid)
            for resource, (namespace, name) in dependents:
                stored = store.get(resource, (namespace, name))
                if stored is None:
                    continue
                living = [
                    o
                    for o in self._index.owners_of(stored.uid)
                    if o != uid and self._index.locate(o) is not None
                ]
                if not living:
                    self._delete(resource, namespace, name)
            return
        resource, (namespace, name) = located
        stored = store.get(resource, (namespace, name))
        if stored is None:
            return
        meta = stored.obj["metadata"]
        finalizers = set(meta.get("finalizers") or ())
        if not meta.get("deletionTimestamp"):
            return
        at = now_ns()
        if ORPHAN in finalizers:
            for dep_resource, (dep_ns, dep_name) in dependents:

                def release(obj: dict[str, Any]) -> None:
                    refs = [
                        r
                        for r in obj["metadata"].get("ownerReferences") or ()
                        if r.get("uid") != uid
                    ]
                    if refs:
                        obj["metadata"]["ownerReferences"] = refs
                    else:
                        obj["metadata"].pop("ownerReferences", None)

                registry.update(
                    dep_resource,
                    namespace=dep_ns or None,
                    name=dep_name,
                    mutate=release,
                    manager=MANAGER,
                    at_ns=at,
                )
            registry.remove_finalizer(
                resource,
                namespace=namespace or None,
                name=name,
                finalizer=ORPHAN,
                manager=MANAGER,
                at_ns=at,
                uid=uid,
            )
            return
        if FOREGROUND not in finalizers:
            return
        if dependents:
            for dep_resource, (dep_ns, dep_name) in dependents:
                dep = store.get(dep_resource, (dep_ns, dep_name))
                if dep is not None and not dep.obj["metadata"].get("deletionTimestamp"):
                    self._delete(dep_resource, dep_ns, dep_name, policy="Foreground")
            return
        registry.truth.record(uid, "dependents_gone", at)
        registry.remove_finalizer(
            resource,
            namespace=namespace or None,
            name=name,
            finalizer=FOREGROUND,
            manager=MANAGER,
            at_ns=at,
            uid=uid,
        )

    def _delete(
        self, resource: str, namespace: str, name: str, *, policy: str = "Background"
    ) -> None:
        with contextlib.suppress(ApiError):  # already gone
            self._ctx.registry.delete(
                resource, namespace=namespace or None, name=name, propagation_policy=policy
            )
