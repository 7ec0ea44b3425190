"""What every simulated controller shares: a delayed work queue, owner references, conditions.

A controller never writes from inside a store listener (the store forbids it):
listeners only `add` keys to the controller's `WorkQueue`, whose worker task
calls `sync(key)` once the key is due. A key already queued is not queued
twice; adding it again with an earlier due time moves it forward, as client-go's
delaying queue does.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.store import Stored
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.timestamps import NS_PER_S, now_ns, rfc3339

log = logging.getLogger(__name__)

ObjKey = tuple[str, str]
"""(namespace, name) of a namespaced object."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    """What a controller is built with (one per cluster, shared by every controller)."""

    registry: Registry
    recorder: EventRecorder
    options: SimOptions
    rng: random.Random
    tasks: TaskSet


class WorkQueue:
    """Keys due at a loop time; one worker task calls `sync(key)` for each due key.

    `sync` is synchronous (it writes through the registry, which never waits);
    an exception in it is a simulator bug: kept in `tasks.failures`, and the
    queue carries on.
    """

    def __init__(self, *, name: str, sync: Callable[[Any], None], tasks: TaskSet) -> None:
        self._name = name
        self._sync = sync
        self._tasks = tasks
        self._heap: list[tuple[float, int, Any]] = []
        self._due: dict[Any, float] = {}
        self._seq = 0
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[Any] | None = None

    def add(self, key: Any, *, after: float = 0.0) -> None:
        """Sync `key` in `after` seconds (or sooner, if it is already due sooner)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (cluster construction): nothing can be pending
        due = loop.time() + max(after, 0.0)
        known = self._due.get(key)
        if known is not None and known <= due:
            return
        self._due[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))
        if self._worker is None or self._worker.done():
            self._wake = asyncio.Event()
            self._worker = self._tasks.spawn(self._run(), name=f"{self._name} worker")
        elif self._wake is not None and self._heap[0][2] == key:
            self._wake.set()

    def __len__(self) -> int:
        return len(self._due)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            if not self._heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            due, _, key = self._heap[0]
            if self._due.get(key) != due:
                heapq.heappop(self._heap)  # superseded by an earlier entry
                continue
            wait = due - loop.time()
            if wait > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=wait)
                continue
            heapq.heappop(self._heap)
            del self._due[key]
            try:
                self._sync(key)
            except Exception as error:
                self._tasks.failures.append(error)
                log.exception("%s: sync of %s failed", self._name, key)
            await asyncio.sleep(0)


class OwnedPodsController:
    """Shared plumbing of controllers that own pods and roll out by generation.

    Subclasses set `KIND` and `NAME` and implement `sync(key)`; this records the
    ground truth `rollout_started:<g>` the first time a generation is seen, and
    queues the owner when it or one of its pods changes.
    """

    KIND = ""
    NAME = ""

    def __init__(self, *, ctx: Context, index: Any) -> None:
        self._ctx = ctx
        self._index = index
        self.queue = WorkQueue(name=self.NAME, sync=self.sync, tasks=ctx.tasks)
        self._generation: dict[str, int] = {}

    def sync(self, key: Any) -> None:
        """Reconcile one owner; each subclass implements it."""
        raise NotImplementedError

    def enqueue(self, key: Any) -> None:
        options = self._ctx.options
        self.queue.add(key, after=options.delay(options.controller_sync, self._ctx.rng))

    def on_owner(self, type_: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        if type_ == "DELETED":
            self._generation.pop(meta["uid"], None)
            return
        generation = int(meta.get("generation") or 1)
        if self._generation.get(meta["uid"], 0) < generation:
            self._generation[meta["uid"]] = generation
            self._ctx.registry.truth.record(meta["uid"], f"rollout_started:{generation}", now_ns())
        self.enqueue((meta["namespace"], meta["name"]))

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        for ref in pod["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == self.KIND:
                self.enqueue((pod["metadata"]["namespace"], ref["name"]))


def owner_reference(
    owner: dict[str, Any], *, controller: bool = True, block: bool = True
) -> dict[str, Any]:
    """An ownerReference as controllers write it (controller and blockOwnerDeletion set)."""
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the object's controlling owner, if any."""
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def matches_selector(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions) against labels; empty matches none.

    An empty selector matches nothing here, as controllers treat it (the API
    server would reject it for apps/v1 anyway).
    """
    if not selector:
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or ()
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expr in expressions:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_condition(pod: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == type_:
            return cond
    return None


def pod_is_ready(pod: dict[str, Any]) -> bool:
    cond = pod_condition(pod, "Ready")
    return cond is not None and cond.get("status") == "True"


def pod_ready_since_s(pod: dict[str, Any]) -> str | None:
    """The Ready condition's lastTransitionTime when Ready=True, else None."""
    cond = pod_condition(pod, "Ready")
    if cond is None or cond.get("status") != "True":
        return None
    return cond.get("lastTransitionTime")


def pod_is_active(pod: dict[str, Any]) -> bool:
    """client-go's FilterActivePods: not Succeeded/Failed and not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def set_condition(
    conditions: list[dict[str, Any]],
    *,
    type_: str,
    status: str,
    reason: str,
    message: str,
    at_ns: int,
    update_time: bool = False,
    force: bool = False,
) -> bool:
    """Set a workload condition as the apps controllers' SetXCondition helpers do; True if changed.

    Same status and reason: unchanged (the message is not refreshed), unless
    `force` (the Deployment controller removes and re-adds Progressing on each
    bit of progress). Same status, new reason: lastTransitionTime is kept. With
    `update_time` the condition also carries `lastUpdateTime` (Deployments).
    """
    now = rfc3339(at_ns)
    transition = now
    for i, cond in enumerate(conditions):
        if cond["type"] != type_:
            continue
        same = cond.get("status") == status
        if same and cond.get("reason") == reason and not force:
            return False
        if same:
            transition = cond.get("lastTransitionTime", now)
        del conditions[i]
        break
    new: dict[str, Any] = {"type": type_, "status": status}
    if update_time:
        new["lastUpdateTime"] = now
    new["lastTransitionTime"] = transition
    new["reason"] = reason
    new["message"] = message
    conditions.append(new)
    return True


def status_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The FieldsV1 of a status write (the keys the controller owns under `.status`)."""
    return {"f:status": {f"f:{k}": {} for k in obj.get("status") or {}}}


def ref_of(stored: Stored, obj: dict[str, Any]) -> Ref:
    """An event's involvedObject for a stored workload."""
    meta = obj["metadata"]
    return Ref(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        uid=stored.uid,
        resource_version=str(stored.rv),
        kind=obj["kind"],
        api_version=obj["apiVersion"],
    )


def objects_of(registry: Registry, resource: str, *, namespace: str) -> Iterable[dict[str, Any]]:
    """Decoded copies of a namespace's objects of one resource."""
    return (s.obj for s in registry.store.items(resource, namespace=namespace))


def spec_update(
    registry: Registry,
    resource: str,
    *,
    namespace: str | None,
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    manager: str,
    at_ns: int,
    uid: str | None = None,
) -> Stored | None:
    """An update of spec/metadata as a client or controller sends it (not `/status`).

    The registry moves `metadata.generation` when the spec changed (the real
    server's PrepareForUpdate); None if the object is gone.
    """

    def touched(obj: dict[str, Any]) -> dict[str, Any]:
        return {"f:spec": {f"f:{k}": {} for k in obj.get("spec") or {}}}

    return registry.update(
        resource,
        namespace=namespace,
        name=name,
        mutate=mutate,
        manager=manager,
        at_ns=at_ns,
        fields=touched,
        uid=uid,
    )


def status_update(
    registry: Registry,
    resource: str,
    *,
    namespace: str | None,
    name: str,
    status: dict[str, Any],
    manager: str,
    at_ns: int,
    uid: str | None = None,
) -> Stored | None:
    """A write to the `/status` subresource: replaces `.status`, nothing else; None if gone."""

    def apply(obj: dict[str, Any]) -> None:
        obj["status"] = status

    return registry.update(
        resource,
        namespace=namespace,
        name=name,
        mutate=apply,
        manager=manager,
        at_ns=at_ns,
        subresource="status",
        fields=status_fields,
        uid=uid,
    )


def parse_time(value: str | None) -> int | None:
    """A metav1.Time (`2024-01-02T03:04:05Z`) as ns since the epoch; None if absent."""
    if not value:
        return None
    return calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")) * NS_PER_S
