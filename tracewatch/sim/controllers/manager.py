"""The simulated kube-controller-manager: builds the controllers, routes store writes to them."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

from tracewatch.sim.controllers.base import Context
from tracewatch.sim.controllers.daemonset import DaemonSetController
from tracewatch.sim.controllers.deployment import DeploymentController
from tracewatch.sim.controllers.garbagecollector import GarbageCollector
from tracewatch.sim.controllers.index import OwnerIndex
from tracewatch.sim.controllers.job import JobController
from tracewatch.sim.controllers.persistentvolume import PersistentVolumeController
from tracewatch.sim.controllers.replicaset import ReplicaSetController
from tracewatch.sim.controllers.statefulset import StatefulSetController
from tracewatch.sim.events import EventRecorder
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.tasks import TaskSet

_UNOWNED = frozenset({"events", "nodes", "namespaces", "leases"})
"""Resources whose objects never carry owner references here (kept out of the owner index)."""


class ControllerManager:
    """Every simulated controller, listening to the store as informers would."""

    def __init__(
        self,
        *,
        registry: Registry,
        recorder: EventRecorder,
        options: SimOptions,
        rng: random.Random,
        tasks: TaskSet,
    ) -> None:
        self.context = Context(
            registry=registry, recorder=recorder, options=options, rng=rng, tasks=tasks
        )
        store = registry.store
        self.index = OwnerIndex()
        ctx, index = self.context, self.index
        self.garbage_collector = GarbageCollector(ctx=ctx, index=index)
        for resource in store.resources:
            if resource not in _UNOWNED:
                # The index first: every controller then reads a graph that includes this write.
                store.listen(resource, partial(index.observe, resource))
                store.listen(resource, partial(self.garbage_collector.observe, resource))
        self.replicasets = ReplicaSetController(ctx=ctx, index=index)
        self.deployments = DeploymentController(ctx=ctx, index=index)
        self.statefulsets = StatefulSetController(ctx=ctx, index=index)
        self.daemonsets = DaemonSetController(ctx=ctx, index=index)
        self.jobs = JobController(ctx=ctx, index=index)
        self.volumes = PersistentVolumeController(ctx=ctx)
        routes = {
            "replicasets": (self.replicasets.on_replicaset, self.deployments.on_replicaset),
            "deployments": (self.deployments.on_deployment,),
            "statefulsets": (self.statefulsets.on_statefulset,),
            "daemonsets": (self.daemonsets.on_daemonset,),
            "jobs": (self.jobs.on_job,),
            "persistentvolumeclaims": (self.volumes.on_claim,),
            "persistentvolumes": (self.volumes.on_volume,),
            "nodes": (self.daemonsets.on_node,),
            "pods": (
                self.replicasets.on_pod,
                self.deployments.on_pod,
                self.statefulsets.on_pod,
                self.daemonsets.on_pod,
                self.jobs.on_pod,
            ),
        }
        pod_listeners = routes.pop("pods")

        def on_pod(type_: str, pod: dict[str, Any]) -> None:
            # Only owned pods concern these controllers: skip the five calls for the others.
            if pod["metadata"].get("ownerReferences"):
                for listener in pod_listeners:
                    listener(type_, pod)

        routes["pods"] = (on_pod,)
        for resource, listeners in routes.items():
            if resource in store.resources:
                for listener in listeners:
                    store.listen(resource, listener)
