"""The kubelet's container runs beyond a plain start: init containers, readiness, exits,
restarts with CrashLoopBackOff, failing image pulls with ImagePullBackOff.

A mixin of `Kubelet` (it uses the kubelet's status writer, event helper and
image cache). What a container does is told by its `SIM_*` env vars (see
`tracewatch.sim.behaviour`). What the real kubelet writes, and this copies:

- init containers run one at a time before any app container, each in
  `status.initContainerStatuses` (running, then terminated `Completed` with
  `ready: true`); Initialized=False `ContainersNotInitialized` until the last
  one completes; app containers wait in `PodInitializing` meanwhile;
- a container that exits: `state.terminated` with exitCode, reason `Completed`
  or `Error`, startedAt/finishedAt; with restartPolicy Never (or OnFailure and
  exit 0) it stays so, and once every container has terminated the pod phase is
  Succeeded (all exit 0) or Failed, Ready=False reason PodCompleted / PodFailed;
- otherwise it restarts: the first restart at once, later ones after a doubling
  back-off (`restart_backoff`, 300 s cap) spent in `waiting: CrashLoopBackOff`
  ("back-off 10s restarting failed container=..."), with the last run in
  `lastState.terminated`, `restartCount` growing and a Warning `BackOff` Event
  aggregated by count as client-go's correlator does;
- a failing pull: Warning `Failed` events (`Failed to pull image ...`, then
  `Error: ErrImagePull`), waiting reason ErrImagePull, then `BackOff` (`Back-off
  pulling image ...`), `Error: ImagePullBackOff`, waiting ImagePullBackOff, and
  a new attempt after a doubling back-off, until the pod is deleted.

Ground truth keys added (per pod uid; `<c>` a container name): `init_started:<c>`,
`init_completed:<c>`, `container_ready:<c>`, `container_exited:<c>` (first
exit), `restarted:<c>` (first restart), `crashloop:<c>` (first
CrashLoopBackOff), `pull_failed:<c>`, `image_pull_backoff:<c>` (first of
each), `succeeded` / `failed` (terminal phase written).
"""

from __future__ import annotations

import random
from typing import Any

from tracewatch.sim.behaviour import Behaviour, backoff_seconds, behaviour_of
from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.scheduler import set_condition
from tracewatch.sim.store import Stored
from tracewatch.sim.tasks import Steps, TaskSet
from tracewatch.sim.timestamps import now_ns, rfc3339
from tracewatch.sim.views import PodForKubelet, view

COMPONENT = "kubelet"


def mark_not_ready(status: dict[str, Any], *, unready: list[str], at: int) -> None:
    """Ready and ContainersReady False, naming the unready containers (ContainersNotReady)."""
    for type_ in ("Ready", "ContainersReady"):
        set_condition(
            status,
            type_=type_,
            value="False",
            at_ns=at,
            reason="ContainersNotReady",
            message=f"containers with unready status: [{' '.join(unready)}]",
        )


def _terminated(cs: dict[str, Any], *, code: int, at: int) -> dict[str, Any]:
    running = cs.get("state", {}).get("running") or {}
    return {
        "exitCode": code,
        "reason": "Completed" if code == 0 else "Error",
        "startedAt": running.get("startedAt", rfc3339(at)),
        "finishedAt": rfc3339(at),
        "containerID": cs.get("containerID", ""),
    }


class ContainerRuns:
    """Mixin for `Kubelet`: everything after a container's first start, and init containers."""

    node: str
    images: set[str]
    _registry: Registry
    _recorder: EventRecorder
    _options: SimOptions
    _rng: random.Random
    _tasks: TaskSet

    # provided by Kubelet
    def _write_status(
        self, namespace: str, name: str, uid: str, at: int, change: Any
    ) -> Stored | None:
        raise NotImplementedError

    def _ref(self, namespace: str, name: str, uid: str) -> Ref | None:
        raise NotImplementedError

    def _ensure_image(
        self,
        pod_ref: tuple[str, str, str],
        container: dict[str, Any],
        behaviour: Behaviour,
        *,
        field_path: str | None = None,
    ) -> Steps[bool]:
        raise NotImplementedError

    # events

    def _container_id(self) -> str:
        return f"containerd://{self._rng.getrandbits(256):064x}"

    def _announce_start(
        self, pod: Ref, at: int, container: dict[str, Any], path: str, *, pulled: bool
    ) -> str:
        """The Events of a container (re)started from a present image; its new container id."""
        cname = container["name"]
        if pulled:
            self._warn(
                pod,
                at,
                "Pulled",
                f'Container image "{container["image"]}" already present on machine',
                path,
                warning=False,
            )
        self._warn(pod, at, "Created", f"Created container: {cname}", path, warning=False)
        self._warn(pod, at, "Started", f"Started container {cname}", path, warning=False)
        return self._container_id()

    def _warn(
        self, pod: Ref, at: int, reason: str, message: str, field_path: str, *, warning: bool = True
    ) -> None:
        """A kubelet event that may repeat: a repeat bumps `count` and `lastTimestamp`."""
        cache: dict[tuple[str, str, str, str], tuple[str, str]] = self.__dict__.setdefault(
            "_repeats", {}
        )
        key = (pod.uid, reason, message, field_path)
        known = cache.get(key)
        if known is not None:

            def bump(obj: dict[str, Any]) -> None:
                obj["count"] = int(obj.get("count") or 1) + 1
                obj["lastTimestamp"] = rfc3339(at)

            if (
                self._registry.update(
                    "events",
                    namespace=known[0],
                    name=known[1],
                    mutate=bump,
                    manager=COMPONENT,
                    at_ns=at,
                )
                is not None
            ):
                return
        stored = self._recorder.legacy(
            about=pod,
            at_ns=max(at, now_ns()),
            reason=reason,
            message=message,
            component=COMPONENT,
            host=self.node,
            field_path=field_path,
            type_="Warning" if warning else "Normal",
        )
        cache[key] = (pod.namespace, stored.obj["metadata"]["name"])

    # init containers

    def _run_init_container(
        self, namespace: str, name: str, uid: str, container: dict[str, Any]
    ) -> Steps[bool]:
        """Run one init container to completion (restarting it as the policy says); False: stop."""
        truth = self._registry.truth
        cname = container["name"]
        path = f"spec.initContainers{{{cname}}}"
        behaviour = behaviour_of(container)
        pod_ref = (namespace, name, uid)
        if not (yield from self._ensure_image(pod_ref, container, behaviour, field_path=path)):
            return False
        attempt = 0
        while True:
            pod = self._ref(*pod_ref)
            if pod is None:
                return False
            at = now_ns()
            if attempt == 0:
                truth.record(uid, f"init_started:{cname}", at)
            container_id = self._announce_start(pod, at, container, path, pulled=attempt > 0)

            def running(
                obj: dict[str, Any], status: dict[str, Any], at: int = at, cid: str = container_id
            ) -> None:
                for cs in status.get("initContainerStatuses", ()):
                    if cs["name"] == cname:
                        cs["state"] = {"running": {"startedAt": rfc3339(at)}}
                        cs["containerID"] = cid
                        cs["started"] = True

            if self._write_status(namespace, name, uid, at, running) is None:
                return False
            run = (
                behaviour.run_seconds
                if behaviour.exits
                else self._options.container_run.draw(self._rng)
            )
            yield self._options.scaled(run or 0.0)
            at = now_ns()
            code = behaviour.exit_code
            policy = self._pod_restart_policy(namespace, name, uid)
            give_up = code != 0 and policy == "Never"

            def finished(
                obj: dict[str, Any],
                status: dict[str, Any],
                at: int = at,
                code: int = code,
                give_up: bool = give_up,
            ) -> None:
                for cs in status.get("initContainerStatuses", ()):
                    if cs["name"] == cname:
                        cs["state"] = {"terminated": _terminated(cs, code=code, at=at)}
                        cs["ready"] = code == 0
                        cs["started"] = False
                if give_up:
                    status["phase"] = "Failed"

            if self._write_status(namespace, name, uid, at, finished) is None:
                return False
            if code == 0:
                truth.record(uid, f"init_completed:{cname}", at)
                return True
            truth.record(uid, f"container_exited:{cname}", at)
            if give_up:
                truth.record(uid, "failed", at)
                return False
            attempt += 1
            if not (yield from self._back_off(pod_ref, cname, path, attempt, init=True)):
                return False

    def _pod_restart_policy(self, namespace: str, name: str, uid: str) -> str:
        stored = self._registry.store.get("pods", (namespace, name))
        if stored is None or stored.uid != uid:
            return "Always"
        return view(stored, PodForKubelet)["spec"].get("restartPolicy", "Always")

    def _back_off(
        self, pod_ref: tuple[str, str, str], cname: str, path: str, attempt: int, *, init: bool
    ) -> Steps[bool]:
        """After the `attempt`-th exit: restart at once the first time, else CrashLoopBackOff."""
        namespace, name, uid = pod_ref
        key = "initContainerStatuses" if init else "containerStatuses"
        if attempt == 1:
            yield self._options.delay(self._options.kubelet_sync, self._rng)
            return self._ref(*pod_ref) is not None
        seconds = backoff_seconds(base=self._options.restart_backoff, attempt=attempt - 1)
        at = now_ns()
        message = (
            f"back-off {seconds:g}s restarting failed container={cname} "
            f"pod={name}_{namespace}({uid})"
        )

        def waiting(obj: dict[str, Any], status: dict[str, Any]) -> None:
            for cs in status.get(key, ()):
                if cs["name"] == cname:
                    if "terminated" in cs.get("state", {}):
                        cs["lastState"] = {"terminated": cs["state"]["terminated"]}
                    cs["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}

        if self._write_status(namespace, name, uid, at, waiting) is None:
            return False
        self._registry.truth.record(uid, f"crashloop:{cname}", at)
        pod = self._ref(*pod_ref)
        if pod is None:
            return False
        self._warn(
            pod,
            at,
            "BackOff",
            f"Back-off restarting failed container {cname} in pod {name}_{namespace}({uid})",
            path,
        )
        yield self._options.scaled(seconds)
        return self._ref(*pod_ref) is not None

    # app containers after their first start

    def _run_containers(
        self, namespace: str, name: str, uid: str, pod: dict[str, Any], listed: list[Behaviour]
    ) -> Steps[None]:
        """Readiness, exits and restarts of the started app containers, until all settle.

        `listed`: each container's behaviour, in the spec's order."""
        containers = pod["spec"]["containers"]
        shared = self._options.delay(self._options.readiness, self._rng)
        groups: dict[float, list[str]] = {}
        behaviours = {c["name"]: b for c, b in zip(containers, listed, strict=True)}
        for c in containers:
            b = behaviours[c["name"]]
            delay = (
                shared
                if b.ready_delay_seconds is None
                else self._options.scaled(b.ready_delay_seconds)
            )
            if b.exits and (b.run_seconds or 0.0) / self._options.speed <= delay:
                continue  # exits before its probe would pass: never ready
            groups.setdefault(delay, []).append(c["name"])
        work = [
            self._become_ready(namespace, name, uid, names, delay)
            for delay, names in sorted(groups.items())
        ]
        work += [
            self._supervise(namespace, name, uid, c, behaviours[c["name"]])
            for c in containers
            if behaviours[c["name"]].exits
        ]
        if len(work) == 1:
            yield from work[0]  # the common case: no flow of its own needed
        else:
            yield from self._tasks.together(work, name=f"run {name}")

    def _become_ready(
        self, namespace: str, name: str, uid: str, names: list[str], delay: float
    ) -> Steps[None]:
        yield delay
        self._mark_ready(namespace, name, uid, names)

    def _mark_ready(self, namespace: str, name: str, uid: str, names: list[str]) -> None:
        at = now_ns()
        all_ready = False

        def ready(obj: dict[str, Any], status: dict[str, Any]) -> None:
            nonlocal all_ready
            statuses = status.get("containerStatuses", ())
            for cs in statuses:
                if cs["name"] in names and "running" in cs.get("state", {}):
                    cs["ready"] = True
            all_ready = all(cs.get("ready") for cs in statuses)
            if all_ready:
                for type_ in ("Ready", "ContainersReady"):
                    set_condition(status, type_=type_, value="True", at_ns=at)
            else:
                unready = [cs["name"] for cs in statuses if not cs.get("ready")]
                mark_not_ready(status, unready=unready, at=at)

        if self._write_status(namespace, name, uid, at, ready) is None:
            return
        truth = self._registry.truth
        for cname in names:
            truth.record(uid, f"container_ready:{cname}", at)
        if all_ready:
            truth.record(uid, "ready", at)

    def _supervise(
        self, namespace: str, name: str, uid: str, container: dict[str, Any], b: Behaviour
    ) -> Steps[None]:
        """A container that exits: its exits, restarts and back-offs, until it stays terminated."""
        truth = self._registry.truth
        cname = container["name"]
        path = f"spec.containers{{{cname}}}"
        pod_ref = (namespace, name, uid)
        attempt = 0
        ready_delay = (
            None if b.ready_delay_seconds is None else self._options.scaled(b.ready_delay_seconds)
        )
        run = self._options.scaled(b.run_seconds or 0.0)
        while True:
            if attempt > 0 and ready_delay is not None and ready_delay < run:
                yield ready_delay
                self._mark_ready(namespace, name, uid, [cname])
                yield run - ready_delay
            else:
                yield run
            at = now_ns()
            policy = self._pod_restart_policy(namespace, name, uid)
            restart = policy == "Always" or (policy == "OnFailure" and b.exit_code != 0)
            terminal: str | None = None

            def exited(
                obj: dict[str, Any], status: dict[str, Any], at: int = at, restart: bool = restart
            ) -> None:
                nonlocal terminal
                statuses = status.get("containerStatuses", ())
                for cs in statuses:
                    if cs["name"] == cname:
                        cs["state"] = {"terminated": _terminated(cs, code=b.exit_code, at=at)}
                        cs["ready"] = False
                        cs["started"] = False
                done = not restart and all("terminated" in cs.get("state", {}) for cs in statuses)
                if done:
                    failed = any(
                        cs["state"]["terminated"].get("exitCode", 0) != 0 for cs in statuses
                    )
                    terminal = "Failed" if failed else "Succeeded"
                    status["phase"] = terminal
                    reason = "PodFailed" if failed else "PodCompleted"
                    for type_ in ("Ready", "ContainersReady"):
                        set_condition(status, type_=type_, value="False", at_ns=at, reason=reason)
                    set_condition(
                        status, type_="PodReadyToStartContainers", value="False", at_ns=at
                    )
                else:
                    unready = [cs["name"] for cs in statuses if not cs.get("ready")]
                    mark_not_ready(status, unready=unready, at=at)

            if self._write_status(namespace, name, uid, at, exited) is None:
                return
            truth.record(uid, f"container_exited:{cname}", at)
            if terminal is not None:
                truth.record(uid, terminal.lower(), at)
            if not restart:
                return
            attempt += 1
            if not (yield from self._back_off(pod_ref, cname, path, attempt, init=False)):
                return
            if not self._restart(pod_ref, container, attempt):
                return

    def _restart(
        self, pod_ref: tuple[str, str, str], container: dict[str, Any], attempt: int
    ) -> bool:
        namespace, name, uid = pod_ref
        cname = container["name"]
        path = f"spec.containers{{{cname}}}"
        pod = self._ref(*pod_ref)
        if pod is None:
            return False
        at = now_ns()
        container_id = self._announce_start(pod, at, container, path, pulled=True)

        def running(obj: dict[str, Any], status: dict[str, Any]) -> None:
            for cs in status.get("containerStatuses", ()):
                if cs["name"] == cname:
                    if "terminated" in cs.get("state", {}):
                        cs["lastState"] = {"terminated": cs["state"]["terminated"]}
                    cs["state"] = {"running": {"startedAt": rfc3339(at)}}
                    cs["containerID"] = container_id
                    cs["restartCount"] = attempt
                    cs["started"] = True

        if self._write_status(namespace, name, uid, at, running) is None:
            return False
        self._registry.truth.record(uid, f"restarted:{cname}", at)
        return True

    # failing pulls

    def _failing_pull(
        self, pod_ref: tuple[str, str, str], container: dict[str, Any], error: str, path: str
    ) -> Steps[bool]:
        """Pull attempts that fail, forever (until the pod goes); returns False when it has."""
        namespace, name, uid = pod_ref
        truth = self._registry.truth
        cname, image = container["name"], container["image"]
        from tracewatch.sim.kubelet import runtime_image  # circular at module level

        full = runtime_image(image)
        detail = (
            f'failed to pull and unpack image "{full}": failed to resolve reference '
            f'"{full}": {full}: {error}'
        )
        status_key = (
            "initContainerStatuses" if path.startswith("spec.init") else "containerStatuses"
        )
        attempt = 0
        while True:
            pod = self._ref(*pod_ref)
            if pod is None:
                return False
            self._warn(pod, now_ns(), "Pulling", f'Pulling image "{image}"', path, warning=False)
            yield self._options.delay(self._options.pull, self._rng)
            pod = self._ref(*pod_ref)
            if pod is None:
                return False
            at = now_ns()
            self._warn(pod, at, "Failed", f'Failed to pull image "{image}": {detail}', path)
            self._warn(pod, at, "Failed", "Error: ErrImagePull", path)

            def err(obj: dict[str, Any], status: dict[str, Any], at: int = at) -> None:
                for cs in status.get(status_key, ()):
                    if cs["name"] == cname:
                        cs["state"] = {"waiting": {"reason": "ErrImagePull", "message": detail}}

            if self._write_status(namespace, name, uid, at, err) is None:
                return False
            truth.record(uid, f"pull_failed:{cname}", at)
            attempt += 1
            seconds = backoff_seconds(base=self._options.restart_backoff, attempt=attempt)
            yield self._options.delay(self._options.kubelet_sync, self._rng)
            pod = self._ref(*pod_ref)
            if pod is None:
                return False
            at = now_ns()
            self._warn(pod, at, "BackOff", f'Back-off pulling image "{image}"', path, warning=False)
            self._warn(pod, at, "Failed", "Error: ImagePullBackOff", path)
            message = f'Back-off pulling image "{image}": ErrImagePull: {detail}'

            def back(obj: dict[str, Any], status: dict[str, Any], message: str = message) -> None:
                for cs in status.get(status_key, ()):
                    if cs["name"] == cname:
                        cs["state"] = {
                            "waiting": {"reason": "ImagePullBackOff", "message": message}
                        }

            if self._write_status(namespace, name, uid, at, back) is None:
                return False
            truth.record(uid, f"image_pull_backoff:{cname}", at)
            yield self._options.scaled(seconds)
