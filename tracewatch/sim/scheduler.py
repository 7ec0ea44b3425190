"""The simulated kube-scheduler: binds each unbound pod to a node after a latency.

Binding writes `spec.nodeName` and PodScheduled=True in one write, as the real
`pods/binding` subresource does, then records a `Scheduled` event through the
events.k8s.io/v1 recorder (`eventTime` in microseconds, `action: Binding`).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.timestamps import now_ns, rfc3339

NAME = "default-scheduler"


def set_condition(
    status: dict[str, Any],
    *,
    type_: str,
    value: str,
    at_ns: int,
    reason: str | None = None,
    message: str | None = None,
) -> None:
    """Set a pod condition; lastTransitionTime moves only when the status value changes."""
    conditions: list[dict[str, Any]] = status.setdefault("conditions", [])
    for cond in conditions:
        if cond["type"] == type_:
            if cond.get("status") != value:
                cond["lastTransitionTime"] = rfc3339(at_ns)
            cond["status"] = value
            break
    else:
        cond = {"type": type_, "status": value, "lastProbeTime": None}
        cond["lastTransitionTime"] = rfc3339(at_ns)
        conditions.append(cond)
    cond.pop("reason", None)
    cond.pop("message", None)
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message


class Scheduler:
    """Spreads pods over nodes (fewest bound pods first, random among ties)."""

    def __init__(
        self,
        *,
        registry: Registry,
        recorder: EventRecorder,
        options: SimOptions,
        rng: random.Random,
        tasks: TaskSet,
        nodes: tuple[str, ...],
        instance: str,
    ) -> None:
        self._registry = registry
        self._recorder = recorder
        self._options = options
        self._rng = rng
        self._tasks = tasks
        self._load = dict.fromkeys(nodes, 0)
        self._instance = instance

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        """Store listener: queue new unbound pods; keep node load current."""
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if type_ == "DELETED":
            if node in self._load:
                self._load[node] -= 1
            return
        if type_ == "ADDED":
            if node:
                if node in self._load:
                    self._load[node] += 1
                return
            if spec.get("schedulerName", NAME) == NAME:
                meta = pod["metadata"]
                self._tasks.spawn(
                    self._schedule(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]),
                    name=f"schedule {meta['namespace']}/{meta['name']}",
                )

    def _pick(self) -> str:
        fewest = min(self._load.values())
        return self._rng.choice([n for n, load in self._load.items() if load == fewest])

    async def _schedule(self, *, namespace: str, name: str, uid: str) -> None:
        await asyncio.sleep(self._options.scheduling.draw(self._rng))
        stored = self._registry.store.get("pods", (namespace, name))
        if stored is None:
            return
        seen = stored.obj
        if seen["metadata"]["uid"] != uid or seen["metadata"].get("deletionTimestamp"):
            return
        if seen["spec"].get("nodeName") or not self._load:
            return
        node = self._pick()
        at = now_ns()

        def bind(obj: dict[str, Any]) -> None:
            obj["spec"]["nodeName"] = node
            set_condition(
                obj.setdefault("status", {}), type_="PodScheduled", value="True", at_ns=at
            )

        # Binding bypasses field management on the real server: no managedFields entry.
        bound = self._registry.update(
            "pods", namespace=namespace, name=name, mutate=bind, manager=NAME, at_ns=at, uid=uid
        )
        if bound is None:
            return
        self._load[node] += 1
        self._registry.truth.record(uid, "scheduled", at)
        # The scheduler's reference is its cached copy: the version before the binding.
        self._recorder.structured(
            about=Ref.of(stored, namespace=namespace, name=name),
            at_ns=at,
            reason="Scheduled",
            action="Binding",
            message=f"Successfully assigned {namespace}/{name} to {node}",
            component=NAME,
            instance=self._instance,
        )
