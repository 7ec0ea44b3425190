"""The simulated kube-scheduler: binds each unbound pod to a node after a latency.

Binding writes `spec.nodeName` and PodScheduled=True in one write, as the real
`pods/binding` subresource does, then records a `Scheduled` event through the
events.k8s.io/v1 recorder (`eventTime` in microseconds, `action: Binding`).
When no node fits (`placement`: node selector/affinity, cpu/memory requests,
unbound Immediate claims) it writes PodScheduled=False Unschedulable and a
FailedScheduling event, and retries after a back-off (1 s doubling to 10 s), at
once when a node changes or the awaited claim binds. Claims of a
WaitForFirstConsumer class get `volume.kubernetes.io/selected-node` once a node
is chosen, and the binding waits until they are Bound (VolumeBinding PreBind).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.options import SimOptions
from tracewatch.sim.placement import (
    SELECTED_NODE,
    FailureWriter,
    PlacementCache,
    Verdict,
    evaluate,
)
from tracewatch.sim.registry import Registry
from tracewatch.sim.store import Stored
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.timestamps import now_ns, rfc3339
from tracewatch.sim.views import PodForScheduling, view

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
        self._node_of: dict[str, str] = {}
        """uid -> node of each pod counted in `_load` (a DELETED pod's spec may be encoded)."""
        self._instance = instance
        self._failures = FailureWriter(
            registry=registry, recorder=recorder, component=NAME, instance=instance
        )
        self._node_waiters: list[asyncio.Future[None]] = []
        self._placement = PlacementCache()

    def on_node(self, type_: str, node: dict[str, Any]) -> None:
        """Store listener: a node changed, so unschedulable pods are retried now (NodeUpdate)."""
        waiters, self._node_waiters = self._node_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        """Store listener: queue new unbound pods; keep node load current."""
        if type_ == "MODIFIED":
            return
        uid = pod["metadata"]["uid"]
        if type_ == "DELETED":
            node = self._node_of.pop(uid, None)
            if node is not None:
                self._load[node] -= 1
            self._failures.forget(uid)
            self._placement.forget_pod(uid)
            return
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if type_ == "ADDED":
            if node:
                if node in self._load:
                    self._load[node] += 1
                    self._node_of[uid] = node
                return
            if spec.get("schedulerName", NAME) == NAME:
                meta = pod["metadata"]
                self._tasks.later(
                    self._options.delay(self._options.scheduling, self._rng),
                    self._attempt,
                    meta["namespace"],
                    meta["name"],
                    meta["uid"],
                )

    def _pick(self, candidates: list[str]) -> str:
        load = self._load
        fewest = min(map(load.__getitem__, candidates))
        return self._rng.choice([n for n in candidates if load[n] == fewest])

    def _pending(self, namespace: str, name: str, uid: str) -> tuple[Stored, dict[str, Any]] | None:
        """The pod (stored, and what the filters read of it: `views.PodForScheduling`), if it
        is still this incarnation, not being deleted, and unbound."""
        stored = self._registry.store.get("pods", (namespace, name))
        if stored is None or stored.uid != uid or not self._load:
            return None
        seen = view(stored, PodForScheduling)
        if seen["metadata"].get("deletionTimestamp") or seen["spec"].get("nodeName"):
            return None
        return stored, seen

    def _attempt(self, namespace: str, name: str, uid: str, attempt: int = 0) -> None:
        """One scheduling cycle for the pod: bind it, or wait (retry back-off, claim binds).

        The common case (a node fits at once) binds right here, in a timer callback:
        only the waits take a task.
        """
        pending = self._pending(namespace, name, uid)
        if pending is None:
            return
        stored, pod = pending
        verdict = evaluate(
            registry=self._registry,
            pod=pod,
            nodes=tuple(self._load),
            classes=self._options.storage_classes,
            cache=self._placement,
        )
        if not verdict.nodes:
            # No node fits: Unschedulable + FailedScheduling, then retry (see placement).
            self._failures.unschedulable(
                stored=stored, message=verdict.message, set_condition=set_condition
            )
            self._tasks.spawn(
                self._retry(verdict, namespace, name, uid, attempt + 1),
                name=f"schedule {namespace}/{name}",
            )
            return
        node = self._pick(verdict.nodes)
        if verdict.delayed:
            self._tasks.spawn(
                self._bind_after_claims(verdict.delayed, node, namespace, name, uid),
                name=f"schedule {namespace}/{name}",
            )
            return
        self._bind(stored, node, namespace, name, uid)

    async def _retry(
        self, verdict: Verdict, namespace: str, name: str, uid: str, attempt: int
    ) -> None:
        await self._retry_wait(verdict, attempt)
        self._attempt(namespace, name, uid, attempt)

    async def _bind_after_claims(
        self, claims: list[tuple[str, str]], node: str, namespace: str, name: str, uid: str
    ) -> None:
        """VolumeBinding PreBind: hand WaitForFirstConsumer claims the node, wait for binds."""
        if not await self._bind_claims(claims, node, pod=(namespace, name, uid)):
            return
        pending = self._pending(namespace, name, uid)
        if pending is not None:
            self._bind(pending[0], node, namespace, name, uid)

    def _bind(self, stored: Stored, node: str, namespace: str, name: str, uid: str) -> None:
        """Bind the pod to `node` (`stored`: the scheduler's copy, the version it evaluated)."""
        at = now_ns()

        def bind(obj: dict[str, Any]) -> None:
            obj["spec"]["nodeName"] = node
            set_condition(
                obj.setdefault("status", {}), type_="PodScheduled", value="True", at_ns=at
            )

        # Binding bypasses field management on the real server: no managedFields entry;
        # nor does it bump generation (pods/binding writes storage directly).
        bound = self._registry.update(
            "pods",
            namespace=namespace,
            name=name,
            mutate=bind,
            manager=NAME,
            at_ns=at,
            uid=uid,
            subresource="binding",
        )
        if bound is None:
            return
        self._load[node] += 1
        self._node_of[uid] = node
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

    async def _retry_wait(self, verdict: Verdict, attempt: int) -> None:
        """The unschedulable queue's back-off (1 s doubling to 10 s), cut short by a claim bind."""
        seconds = self._options.scaled(min(2.0 ** (attempt - 1), 10.0))
        if not verdict.unbound_immediate:
            node_changed = asyncio.get_running_loop().create_future()
            self._node_waiters.append(node_changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(node_changed, timeout=seconds)
            return
        with contextlib.suppress(TimeoutError):
            await self._registry.truth.wait_for(
                verdict.unbound_immediate[0], "bound", timeout=seconds
            )

    async def _bind_claims(
        self, claims: list[tuple[str, str]], node: str, *, pod: tuple[str, str, str]
    ) -> bool:
        """Annotate each claim with the chosen node; True once all are bound (False: pod gone)."""
        store = self._registry.store
        for namespace, claim in claims:
            stored = store.get("persistentvolumeclaims", (namespace, claim))
            if stored is None:
                return False
            if (stored.obj["metadata"].get("annotations") or {}).get(SELECTED_NODE) != node:

                def select(obj: dict[str, Any]) -> None:
                    obj["metadata"].setdefault("annotations", {})[SELECTED_NODE] = node

                self._registry.update(
                    "persistentvolumeclaims",
                    namespace=namespace,
                    name=claim,
                    mutate=select,
                    manager=NAME,
                    at_ns=now_ns(),
                )
        for namespace, claim in claims:
            while True:
                stored = store.get("persistentvolumeclaims", (namespace, claim))
                if stored is None or self._pending(*pod) is None:
                    return False
                if (stored.obj.get("status") or {}).get("phase") == "Bound":
                    break
                with contextlib.suppress(TimeoutError):
                    await self._registry.truth.wait_for(stored.uid, "bound", timeout=1.0)
        return True
