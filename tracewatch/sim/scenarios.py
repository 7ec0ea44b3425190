"""Scenarios: named, parameterised workloads driven against a running SimCluster.

API (the demo and tests call these):

    SCENARIOS: dict[str, Scenario]           # name -> Scenario(name, description, run, ...)
    async def run_scenario(sim, name, **params) -> ScenarioResult

Each scenario acts as a client would (creates, updates, deletes through the
registry, manager `kubectl`), waits on the ground truth until its work is
done, and returns a `ScenarioResult` naming the objects it touched (resource,
namespace, name, uid) so a caller can wait for their traces. Every wait is
bounded by `timeout` seconds (a `TimeoutError` means the simulator is stuck).
Durations scale with `SimOptions.speed`.

| name | what happens | returns when |
|---|---|---|
| startup | `pods` pods (mixed images, one cached) | all Ready |
| deployment | Deployment `replicas`, then a new image | rollout 2 complete |
| supersede | update to v2 (slow readiness), update to v3 mid-rollout | rollout 3 complete |
| statefulset | StatefulSet with a claim per pod (`storage_class`) | all Ready |
| job | Job `completions`/`parallelism` of short pods | Complete |
| image-pull-failure | a pod whose image cannot be pulled | ImagePullBackOff, then deleted |
| unschedulable | a pod whose nodeSelector no node has; later a node gets the label | Ready |
| deletions | pods and a Deployment deleted (graceful, garbage collection) | all gone |
| crashloop | a pod whose container exits 1 | CrashLoopBackOff, then deleted |
| daemonset | a DaemonSet | one Ready pod per node |
| churn | `rate` pod startups/s over `namespaces` namespaces for `duration` s | last pod Ready |
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from tracewatch.sim.cluster import CLIENT_MANAGER, SimCluster
from tracewatch.sim.controllers.base import spec_update
from tracewatch.sim.manifests import pod_manifest
from tracewatch.sim.timestamps import now_ns
from tracewatch.sim.workload_manifests import (
    container,
    daemonset_manifest,
    deployment_manifest,
    job_manifest,
    pod_template,
    statefulset_manifest,
)

CLIENT = "kubectl"
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True)
class Touched:
    """One object a scenario created."""

    resource: str
    namespace: str
    name: str
    uid: str


@dataclass(slots=True)
class ScenarioResult:
    """What a scenario did: its name and the objects it created, in order."""

    name: str
    objects: list[Touched] = field(default_factory=list)

    def uids(self, resource: str | None = None) -> list[str]:
        return [o.uid for o in self.objects if resource is None or o.resource == resource]


Runner = Callable[..., Awaitable[ScenarioResult]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A registered scenario: `run(sim, result, **params)` fills `result`."""

    name: str
    description: str
    run: Callable[..., Awaitable[None]]


SCENARIOS: dict[str, Scenario] = {}


def _scenario(name: str, description: str) -> Callable[[Any], Any]:
    def register(fn: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        SCENARIOS[name] = Scenario(name=name, description=description, run=fn)
        return fn

    return register


async def run_scenario(sim: SimCluster, name: str, **params: Any) -> ScenarioResult:
    """Run scenario `name` against a started cluster; KeyError for an unknown name."""
    scenario = SCENARIOS[name]
    result = ScenarioResult(name=name)
    await scenario.run(sim, result, **params)
    return result


# helpers


def _create(
    sim: SimCluster,
    result: ScenarioResult,
    resource: str,
    manifest: dict[str, Any],
    *,
    namespace: str = "default",
) -> str:
    # As `sim.create`, without decoding the answer (the churn benchmark creates thousands).
    stored = sim.registry.create(
        resource, orjson.loads(orjson.dumps(manifest)), namespace=namespace, manager=CLIENT_MANAGER
    )
    name = manifest["metadata"].get("name")
    if not name:
        identity = sim.truth.identity(stored.uid)
        assert identity is not None  # the registry tells the truth of every object it stores
        name = identity[2]
    result.objects.append(Touched(resource, namespace, name, stored.uid))
    return stored.uid


async def _wait(sim: SimCluster, uid: str, key: str, timeout: float) -> int:
    return await sim.truth.wait_for(uid, key, timeout=timeout)


def _update(
    sim: SimCluster,
    resource: str,
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    *,
    namespace: str = "default",
) -> None:
    spec_update(
        sim.registry,
        resource,
        namespace=namespace,
        name=name,
        mutate=mutate,
        manager=CLIENT,
        at_ns=now_ns(),
    )


def _set_image(image: str, *, ready_delay: float | None = None) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        main = obj["spec"]["template"]["spec"]["containers"][0]
        main["image"] = image
        env = [e for e in main.get("env") or () if e.get("name") != "SIM_READY_DELAY_SECONDS"]
        if ready_delay is not None:
            env.append({"name": "SIM_READY_DELAY_SECONDS", "value": str(ready_delay)})
        if env:
            main["env"] = env
        else:
            main.pop("env", None)

    return mutate


async def _delete_and_wait(
    sim: SimCluster,
    resource: str,
    name: str,
    uid: str,
    timeout: float,
    *,
    namespace: str = "default",
) -> None:
    sim.registry.delete(resource, namespace=namespace, name=name)  # sim.delete, answer unread
    await _wait(sim, uid, "deleted", timeout)


# scenarios


@_scenario("startup", "a few pods start (one image already on the nodes, others pulled)")
async def _startup(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    pods: int = 3,
    namespace: str = "default",
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    images = ("nginx:1.27", "redis:7.4", "ghcr.io/example/api:2.3.1", "registry.k8s.io/pause:3.10")
    uids = [
        _create(
            sim,
            result,
            "pods",
            pod_manifest(f"startup-{i + 1}", image=images[i % 4]),
            namespace=namespace,
        )
        for i in range(pods)
    ]
    await asyncio.gather(*(_wait(sim, u, "ready", timeout) for u in uids))


@_scenario("deployment", "a Deployment is created, then rolled out to a new image")
async def _deployment(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "web",
    replicas: int = 3,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    uid = _create(sim, result, "deployments", deployment_manifest(name, replicas=replicas))
    await _wait(sim, uid, "rollout_complete:1", timeout)
    _update(sim, "deployments", name, _set_image("nginx:1.28"))
    await _wait(sim, uid, "rollout_complete:2", timeout)


@_scenario("supersede", "an update arrives while the previous rollout is unfinished")
async def _supersede(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "api",
    replicas: int = 4,
    slow_ready_seconds: float = 2.0,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    uid = _create(sim, result, "deployments", deployment_manifest(name, replicas=replicas))
    await _wait(sim, uid, "rollout_complete:1", timeout)
    # v2's pods take long to become Ready, so its rollout is still running when v3 lands.
    _update(sim, "deployments", name, _set_image("nginx:1.28", ready_delay=slow_ready_seconds))
    await _wait(sim, uid, "rollout_started:2", timeout)
    await asyncio.sleep(sim.options.scaled(slow_ready_seconds / 2))
    _update(sim, "deployments", name, _set_image("nginx:1.29"))
    await _wait(sim, uid, "rollout_complete:3", timeout)


@_scenario("statefulset", "a StatefulSet whose pods each get a claim (provisioned, then bound)")
async def _statefulset(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "db",
    replicas: int = 3,
    storage_class: str | None = None,
    pod_management_policy: str = "OrderedReady",
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    manifest = statefulset_manifest(
        name,
        replicas=replicas,
        storage_class=storage_class,
        pod_management_policy=pod_management_policy,
    )
    uid = _create(sim, result, "statefulsets", manifest)
    await _wait(sim, uid, f"ready:{replicas}", timeout)


@_scenario("job", "a Job runs short pods to its completions")
async def _job(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "batch",
    completions: int = 3,
    parallelism: int = 2,
    run_seconds: float = 1.0,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    uid = _create(
        sim,
        result,
        "jobs",
        job_manifest(
            name, completions=completions, parallelism=parallelism, run_seconds=run_seconds
        ),
    )
    await _wait(sim, uid, "complete", timeout)


@_scenario("image-pull-failure", "a pod's image cannot be pulled (ErrImagePull, ImagePullBackOff)")
async def _image_pull_failure(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "broken-image",
    delete: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    manifest = pod_manifest(
        name,
        containers=[
            container("app", image="ghcr.io/example/does-not-exist:1.0", pull_error="not found")
        ],
    )
    uid = _create(sim, result, "pods", manifest)
    await _wait(sim, uid, "image_pull_backoff:app", timeout)
    if delete:
        await _delete_and_wait(sim, "pods", name, uid, timeout)


@_scenario("unschedulable", "a pod no node fits (FailedScheduling) until a node is labelled")
async def _unschedulable(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "needs-ssd",
    fix_after_seconds: float = 1.5,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    manifest = pod_manifest(name)
    manifest["spec"]["nodeSelector"] = {"disktype": "ssd"}
    uid = _create(sim, result, "pods", manifest)
    await _wait(sim, uid, "unschedulable", timeout)
    await asyncio.sleep(sim.options.scaled(fix_after_seconds))
    node = sim.options.names_of_nodes()[0]

    def label(obj: dict[str, Any]) -> None:
        obj["metadata"].setdefault("labels", {})["disktype"] = "ssd"

    sim.registry.update(
        "nodes", namespace=None, name=node, mutate=label, manager=CLIENT, at_ns=now_ns()
    )
    await _wait(sim, uid, "ready", timeout)


@_scenario(
    "deletions", "pods deleted gracefully, and a Deployment deleted with its ReplicaSet and pods"
)
async def _deletions(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    pods: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    uids = [_create(sim, result, "pods", pod_manifest(f"doomed-{i + 1}")) for i in range(pods)]
    dep = _create(sim, result, "deployments", deployment_manifest("doomed", replicas=2))
    await asyncio.gather(
        *(_wait(sim, u, "ready", timeout) for u in uids),
        _wait(sim, dep, "rollout_complete:1", timeout),
    )
    owned = [
        u
        for u in sim.truth.uids(resource="pods")
        if (sim.truth.identity(u) or ("", "", ""))[2].startswith("doomed-") and u not in uids
    ]
    await asyncio.gather(
        *(_delete_and_wait(sim, "pods", f"doomed-{i + 1}", u, timeout) for i, u in enumerate(uids))
    )
    await sim.delete("deployments", "doomed")
    await asyncio.gather(*(_wait(sim, u, "deleted", timeout) for u in owned))


@_scenario("crashloop", "a container keeps exiting with an error (CrashLoopBackOff)")
async def _crashloop(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "crasher",
    run_seconds: float = 0.5,
    delete: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    manifest = pod_manifest(
        name, containers=[container("app", run_seconds=run_seconds, exit_code=1)]
    )
    uid = _create(sim, result, "pods", manifest)
    await _wait(sim, uid, "crashloop:app", timeout)
    if delete:
        await _delete_and_wait(sim, "pods", name, uid, timeout)


@_scenario("daemonset", "a DaemonSet puts one pod on every node")
async def _daemonset(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    name: str = "agent",
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    uid = _create(sim, result, "daemonsets", daemonset_manifest(name))
    await _wait(sim, uid, f"ready:{len(sim.options.names_of_nodes())}", timeout)


@_scenario("churn", "N pod startups per second over M namespaces for a duration (benchmarks)")
async def _churn(
    sim: SimCluster,
    result: ScenarioResult,
    *,
    rate: float = 50.0,
    namespaces: int = 5,
    duration: float = 5.0,
    image: str = "registry.k8s.io/pause:3.10",
    delete_after_ready: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Pods are created on a fixed schedule (not sped up: `rate` is what a benchmark asks).

    A pod's lifecycle (Ready -> delete -> gone) is a chain of callbacks on ground-truth
    futures, and creations are timer callbacks: no task or timer per pod, as a benchmark
    churns thousands. One deadline bounds the run: `timeout` s after the last creation.
    """
    names = [f"churn-{i}" for i in range(namespaces)]
    for ns in names:
        if sim.store.get("namespaces", ("", ns)) is None:
            await sim.create("namespaces", {"metadata": {"name": ns}}, namespace=None)
    loop = asyncio.get_running_loop()
    truth = sim.truth
    total = int(rate * duration)
    template = pod_template({"app": "churn"}, containers=[container(image=image)])
    finished: asyncio.Future[None] = loop.create_future()
    waiting: dict[asyncio.Future[int], tuple[str, str]] = {}
    """Pending ground-truth futures -> (uid, key), forgotten if the deadline passes."""
    created = settled = 0
    deadline: list[asyncio.TimerHandle] = []

    def fail(error: BaseException) -> None:
        if not finished.done():
            finished.set_exception(error)

    def watch(uid: str, key: str, then: Callable[[asyncio.Future[int]], None]) -> None:
        future = truth.future(uid, key)
        waiting[future] = (uid, key)
        future.add_done_callback(then)

    def settle(done: asyncio.Future[int]) -> None:
        nonlocal settled
        waiting.pop(done, None)
        settled += 1
        if settled == total and not finished.done():
            finished.set_result(None)

    def on_ready(ns: str, name: str, uid: str, ready: asyncio.Future[int]) -> None:
        waiting.pop(ready, None)
        if finished.done():
            return
        if not delete_after_ready:
            settle(ready)
            return
        try:
            sim.registry.delete("pods", namespace=ns, name=name)  # sim.delete, answer unread
        except Exception as error:  # the scenario fails with it
            fail(error)
            return
        watch(uid, "deleted", settle)

    def create_due() -> None:
        nonlocal created
        try:
            while created < total and begin + created / rate <= loop.time():
                i, ns = created, names[created % namespaces]
                manifest = {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": f"churn-{i}", "labels": {"app": "churn"}},
                    "spec": template["spec"],
                }
                uid = _create(sim, result, "pods", manifest, namespace=ns)
                created += 1
                watch(uid, "ready", partial(on_ready, ns, f"churn-{i}", uid))
        except Exception as error:  # the scenario fails with it
            fail(error)
            return
        if created < total:
            loop.call_at(begin + created / rate, create_due)
        else:
            deadline.append(loop.call_later(timeout, fail, TimeoutError()))

    if total <= 0:
        return
    begin = loop.time()
    create_due()
    try:
        await finished
    finally:
        for timer in deadline:
            timer.cancel()
        for future, (uid, key) in waiting.items():
            truth.forget(uid, key, future)
