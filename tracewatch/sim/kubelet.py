"""A simulated kubelet per node: pod startup and graceful termination, as the real one writes them.

Startup, for each pod bound to the node:
1. first status write: Initialized=True, Ready/ContainersReady=False (ContainersNotReady),
   PodReadyToStartContainers=False, containers waiting in ContainerCreating, startTime, hostIP;
2. after the sandbox latency: PodReadyToStartContainers=True and the pod IP;
3. per container, in order: image pull (Pulling/Pulled events) unless the image is on the node
   ("already present" Pulled event), Created and Started events, then a status write with the
   container running (phase Running once no container is waiting);
4. after the readiness delay: Ready=True, ContainersReady=True, containers ready.

Termination (the pod got a deletionTimestamp): Killing events, containers terminated,
final status (phase Succeeded), then the kubelet removes the pod (the DELETED event).
"""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Any

from tracewatch.sim.behaviour import Behaviour, behaviour_of
from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.kubelet_containers import ContainerRuns, mark_not_ready
from tracewatch.sim.objects import (
    condition_type,
    image_size,
    memo_put,
    node_ip,
    pod_status_fields,
)
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.scheduler import set_condition
from tracewatch.sim.store import Stored
from tracewatch.sim.tasks import Flow, FlowLock, Steps, TaskSet, locked
from tracewatch.sim.timestamps import go_duration_ms, now_ns, rfc3339
from tracewatch.sim.views import PodForKubelet, view

COMPONENT = "kubelet"
_CONDITION_ORDER = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)
_CONDITION_RANK = {t: i for i, t in enumerate(_CONDITION_ORDER)}
_STATUS_ORDER = (
    "phase",
    "conditions",
    "message",
    "reason",
    "hostIP",
    "hostIPs",
    "podIP",
    "podIPs",
    "startTime",
    "initContainerStatuses",
    "containerStatuses",
    "qosClass",
)


def runtime_image(image: str) -> str:
    """The fully qualified name the container runtime reports (`docker.io/library/nginx:1.27`)."""
    first = image.split("/", 1)[0]
    if "/" not in image:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


@functools.lru_cache(maxsize=1024)
def image_id(image: str) -> str:
    """A stable repo digest for the image."""
    repo = runtime_image(image).rsplit(":", 1)[0] if "@" not in image else image.split("@")[0]
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _status_fields(obj: dict[str, Any]) -> dict[str, Any]:
    return pod_status_fields(obj["status"])


def _condition_rank(condition: dict[str, Any]) -> int:
    return _CONDITION_RANK.get(condition["type"], len(_CONDITION_ORDER))


_conditions_sorted: dict[tuple[str, ...], bool] = {}
"""Condition types in their order -> whether that is the kubelet's order."""
_keys_ordered: dict[tuple[str, ...], bool] = {}
"""Status keys in their order -> whether that is the kubelet's order."""


def _in_kubelet_order(status: dict[str, Any]) -> dict[str, Any]:
    """The status with conditions and keys in the order the kubelet writes (`status` if so).

    Most writes find them in order already (the stored status was written so), so
    the orders are checked through memos rather than sorted and rebuilt each time.
    """
    conditions = status.setdefault("conditions", [])
    types = tuple(map(condition_type, conditions))
    in_order = _conditions_sorted.get(types)
    if in_order is None:
        ranks = list(map(_condition_rank, conditions))
        in_order = memo_put(_conditions_sorted, types, ranks == sorted(ranks))
    if not in_order:
        status["conditions"] = sorted(conditions, key=_condition_rank)
    keys = tuple(status)
    in_order = _keys_ordered.get(keys)
    if in_order is None:
        ordered = [k for k in _STATUS_ORDER if k in status]
        ordered += [k for k in keys if k not in ordered]
        in_order = memo_put(_keys_ordered, keys, keys == tuple(ordered))
    if in_order:
        return status
    return {**{k: status[k] for k in _STATUS_ORDER if k in status}, **status}


class Kubelet(ContainerRuns):
    """One node's kubelet: starts the pods bound to it and terminates those being deleted."""

    def __init__(
        self,
        *,
        node: str,
        index: int,
        registry: Registry,
        recorder: EventRecorder,
        options: SimOptions,
        rng: random.Random,
        tasks: TaskSet,
        images: tuple[str, ...],
    ) -> None:
        self.node = node
        self.images: set[str] = set(images)
        """Images present on the node; a pull adds to it."""
        self._index = index
        self._ip = node_ip(index)
        self._registry = registry
        self._recorder = recorder
        self._options = options
        self._rng = rng
        self._tasks = tasks
        self._pull_lock = FlowLock() if options.serialize_image_pulls else None
        self._starting: dict[str, Flow] = {}
        self._known: set[str] = set()
        self._terminating: set[str] = set()
        self._next_ip = 2

    # reacting to the store

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        """Store listener for pods bound to this node."""
        meta = pod["metadata"]
        uid = meta["uid"]
        if type_ == "DELETED":
            self._known.discard(uid)
            self._terminating.discard(uid)
            starting = self._starting.pop(uid, None)
            if starting is not None:
                starting.cancel()
            return
        if meta.get("deletionTimestamp"):
            if uid in self._terminating:
                return
            self._terminating.add(uid)
            starting = self._starting.pop(uid, None)
            if starting is not None:
                starting.cancel()
            name = meta["name"]
            self._tasks.run(self._terminate(meta["namespace"], name, uid), name=f"kill {name}")
            return
        if uid not in self._known:
            self._known.add(uid)
            name = meta["name"]
            start = self._start(meta["namespace"], name, uid)
            self._starting[uid] = self._tasks.run(start, name=f"start {name}")

    # helpers

    def _current(self, namespace: str, name: str, uid: str) -> Stored | None:
        """The pod as stored now, if it is still this incarnation (same uid)."""
        stored = self._registry.store.get("pods", (namespace, name))
        if stored is None or stored.uid != uid:
            return None
        return stored

    def _ref(self, namespace: str, name: str, uid: str) -> Ref | None:
        """The kubelet's reference to the pod (at its latest version), or None if it is gone."""
        stored = self._current(namespace, name, uid)
        return None if stored is None else Ref.of(stored, namespace=namespace, name=name)

    def _write_status(
        self, namespace: str, name: str, uid: str, at: int, change: Any
    ) -> Stored | None:
        def apply(obj: dict[str, Any]) -> None:
            status = obj.setdefault("status", {})
            change(obj, status)
            obj["status"] = _in_kubelet_order(status)

        stored = self._registry.update(
            "pods",
            namespace=namespace,
            name=name,
            mutate=apply,
            manager=COMPONENT,
            at_ns=at,
            subresource="status",
            fields=_status_fields,
            uid=uid,
        )
        return stored

    def _event(
        self,
        pod: Ref,
        at: int,
        reason: str,
        message: str,
        container: str | None = None,
        *,
        field_path: str | None = None,
    ) -> None:
        self._recorder.legacy(
            about=pod,
            at_ns=at,
            reason=reason,
            message=message,
            component=COMPONENT,
            host=self.node,
            field_path=field_path or (f"spec.containers{{{container}}}" if container else None),
        )

    def _delay(self, latency: Any) -> float:
        """One draw of `latency` (s), for a flow to wait."""
        return self._options.delay(latency, self._rng)

    # startup

    def _start(self, namespace: str, name: str, uid: str) -> Steps[None]:
        try:
            yield from self._startup(namespace, name, uid)
        finally:
            # A deletion pops the entry before cancelling, and a uid never starts twice.
            self._starting.pop(uid, None)

    def _startup(self, namespace: str, name: str, uid: str) -> Steps[None]:
        truth = self._registry.truth
        yield self._delay(self._options.kubelet_sync)
        current = self._current(namespace, name, uid)
        if current is None:
            return
        pod = view(current, PodForKubelet)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        behaviours = [behaviour_of(c) for c in pod["spec"]["containers"]]
        inits = pod["spec"].get("initContainers") or []
        at = now_ns()

        def accept(obj: dict[str, Any], status: dict[str, Any]) -> None:
            status["phase"] = "Pending"
            set_condition(status, type_="PodReadyToStartContainers", value="False", at_ns=at)
            if inits:
                # Init containers first: Initialized stays False until the last completes.
                set_condition(
                    status,
                    type_="Initialized",
                    value="False",
                    at_ns=at,
                    reason="ContainersNotInitialized",
                    message="containers with incomplete status: "
                    f"[{' '.join(c['name'] for c in inits)}]",
                )
                status["initContainerStatuses"] = [
                    {
                        "name": c["name"],
                        "state": {"waiting": {"reason": "PodInitializing"}},
                        "lastState": {},
                        "ready": False,
                        "restartCount": 0,
                        "image": c["image"],
                        "imageID": "",
                        "started": False,
                    }
                    for c in inits
                ]
            else:
                set_condition(status, type_="Initialized", value="True", at_ns=at)
            mark_not_ready(status, unready=containers, at=at)
            status["hostIP"] = self._ip
            status["hostIPs"] = [{"ip": self._ip}]
            status["startTime"] = rfc3339(at)
            status["containerStatuses"] = [
                {
                    "name": c["name"],
                    "state": {
                        "waiting": {"reason": "PodInitializing" if inits else "ContainerCreating"}
                    },
                    "lastState": {},
                    "ready": False,
                    "restartCount": 0,
                    "image": c["image"],
                    "imageID": "",
                    "started": False,
                }
                for c in pod["spec"]["containers"]
            ]

        if self._write_status(namespace, name, uid, at, accept) is None:
            return
        truth.record(uid, "accepted", at)
        if not inits:
            truth.record(uid, "initialized", at)

        yield self._delay(self._options.sandbox)
        at = now_ns()
        pod_ip = f"10.244.{self._index}.{self._next_ip}"
        self._next_ip = self._next_ip % 250 + 2

        def sandbox(obj: dict[str, Any], status: dict[str, Any]) -> None:
            set_condition(status, type_="PodReadyToStartContainers", value="True", at_ns=at)
            status["podIP"] = pod_ip
            status["podIPs"] = [{"ip": pod_ip}]

        if self._write_status(namespace, name, uid, at, sandbox) is None:
            return
        truth.record(uid, "sandbox_ready", at)

        for init in inits:
            if not (yield from self._run_init_container(namespace, name, uid, init)):
                return
        if inits:
            at = now_ns()

            def initialized(obj: dict[str, Any], status: dict[str, Any]) -> None:
                set_condition(status, type_="Initialized", value="True", at_ns=at)

            if self._write_status(namespace, name, uid, at, initialized) is None:
                return
            truth.record(uid, "initialized", at)

        for container, behaviour in zip(pod["spec"]["containers"], behaviours, strict=True):
            if not (yield from self._start_container(namespace, name, uid, container, behaviour)):
                return
        # Readiness (each container's delay), exits and restarts: see kubelet_containers.
        yield from self._run_containers(namespace, name, uid, pod, behaviours)

    def _ensure_image(
        self,
        pod_ref: tuple[str, str, str],
        container: dict[str, Any],
        behaviour: Behaviour,
        *,
        field_path: str | None = None,
    ) -> Steps[bool]:
        truth = self._registry.truth
        uid, cname, image = pod_ref[2], container["name"], container["image"]
        pod = self._ref(*pod_ref)
        if pod is None:
            return False
        path = field_path or f"spec.containers{{{cname}}}"
        error = behaviour.pull_error
        if error:
            return (yield from self._failing_pull(pod_ref, container, error, path))
        policy = container.get("imagePullPolicy", "IfNotPresent")
        if image in self.images and policy != "Always":
            at = now_ns()
            truth.record(uid, f"image_present:{cname}", at)
            self._event(
                pod,
                at,
                "Pulled",
                f'Container image "{image}" already present on machine',
                field_path=path,
            )
            return True
        requested = now_ns()
        truth.record(uid, f"pull_started:{cname}", requested)
        self._event(pod, requested, "Pulling", f'Pulling image "{image}"', field_path=path)
        began = yield from locked(self._pull_lock, self._pull(image))
        at = now_ns()
        truth.record(uid, f"pulled:{cname}", at)
        pod = self._ref(*pod_ref)
        if pod is None:
            return False
        self._event(
            pod,
            at,
            "Pulled",
            f'Successfully pulled image "{image}" in {go_duration_ms(at - began)} '
            f"({go_duration_ms(at - requested)} including waiting). "
            f"Image size: {image_size(image)} bytes.",
            field_path=path,
        )
        return True

    def _pull(self, image: str) -> Steps[int]:
        """The pull itself (its turn come): when it began."""
        began = now_ns()
        yield self._delay(self._options.pull)
        self.images.add(image)
        return began

    def _start_container(
        self, namespace: str, name: str, uid: str, container: dict[str, Any], behaviour: Behaviour
    ) -> Steps[bool]:
        truth = self._registry.truth
        cname = container["name"]
        if not (yield from self._ensure_image((namespace, name, uid), container, behaviour)):
            return False
        yield self._delay(self._options.container_create)
        pod = self._ref(namespace, name, uid)
        if pod is None:
            return False
        at = now_ns()
        truth.record(uid, f"container_created:{cname}", at)
        self._event(pod, at, "Created", f"Created container: {cname}", cname)
        yield self._delay(self._options.container_start)
        pod = self._ref(namespace, name, uid)
        if pod is None:
            return False
        at = now_ns()
        truth.record(uid, f"container_started:{cname}", at)
        self._event(pod, at, "Started", f"Started container {cname}", cname)
        container_id = self._container_id()
        phase = [""]

        def running(obj: dict[str, Any], status: dict[str, Any]) -> None:
            for cs in status["containerStatuses"]:
                if cs["name"] == cname:
                    cs["state"] = {"running": {"startedAt": rfc3339(at)}}
                    cs["image"] = runtime_image(container["image"])
                    cs["imageID"] = image_id(container["image"])
                    cs["containerID"] = container_id
                    cs["started"] = True
            if all("waiting" not in cs["state"] for cs in status["containerStatuses"]):
                status["phase"] = "Running"
            phase[0] = status.get("phase", "")

        if self._write_status(namespace, name, uid, at, running) is None:
            return False
        if phase[0] == "Running":
            truth.record(uid, "running", at)
        return True

    # termination

    def _terminate(self, namespace: str, name: str, uid: str) -> Steps[None]:
        # The startup flow, if any, was cancelled (and closed) already.
        truth = self._registry.truth
        current = self._current(namespace, name, uid)
        if current is None:
            return
        ref = Ref.of(current, namespace=namespace, name=name)
        at = now_ns()
        truth.record(uid, "killing", at)
        for cs in view(current, PodForKubelet).get("status", {}).get("containerStatuses") or ():
            if "running" in cs.get("state", {}):
                self._event(ref, at, "Killing", f"Stopping container {cs['name']}", cs["name"])
        yield self._delay(self._options.termination)
        at = now_ns()

        def terminated(obj: dict[str, Any], status: dict[str, Any]) -> None:
            failed = False
            for cs in status.get("containerStatuses", ()):
                running = cs.get("state", {}).get("running")
                if running is not None:
                    cs["state"] = {
                        "terminated": {
                            "exitCode": 0,
                            "reason": "Completed",
                            "startedAt": running["startedAt"],
                            "finishedAt": rfc3339(at),
                            "containerID": cs.get("containerID", ""),
                        }
                    }
                else:
                    failed = True
                    cs["state"] = {
                        "terminated": {
                            "exitCode": 137,
                            "reason": "ContainerStatusUnknown",
                            "message": "The container could not be located when the pod was "
                            "deleted.  The container used to be Running",
                        }
                    }
                cs["ready"] = False
                cs["started"] = False
            status["phase"] = "Failed" if failed else "Succeeded"
            reason = "PodFailed" if failed else "PodCompleted"
            for type_ in ("Ready", "ContainersReady"):
                set_condition(status, type_=type_, value="False", at_ns=at, reason=reason)
            set_condition(status, type_="PodReadyToStartContainers", value="False", at_ns=at)

        if self._write_status(namespace, name, uid, at, terminated) is None:
            return
        truth.record(uid, "terminated", at)
        # The status manager then deletes the pod for good (grace 0, uid precondition).
        self._registry.remove("pods", namespace=namespace, name=name, at_ns=now_ns(), uid=uid)
