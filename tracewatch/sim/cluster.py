"""SimCluster: the simulated API server and control plane, started and stopped as one."""

from __future__ import annotations

import os
import random
import secrets
import ssl
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from tracewatch.sim import certs
from tracewatch.sim.apiserver import ApiServer, Tokens
from tracewatch.sim.controllers.manager import ControllerManager
from tracewatch.sim.events import EventRecorder
from tracewatch.sim.eventttl import EventExpiry
from tracewatch.sim.faults import Faults
from tracewatch.sim.kubeconfig import write_kubeconfig
from tracewatch.sim.kubelet import Kubelet
from tracewatch.sim.objects import node_object
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import RESOURCES
from tracewatch.sim.scheduler import Scheduler
from tracewatch.sim.store import ObjectStore
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.truth import GroundTruth

BUILTIN_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
CLIENT_MANAGER = "tracewatch-sim"
"""The field manager of objects created through the client conveniences below."""


class SimCluster:
    """A simulated cluster on loopback: real HTTP API, simulated scheduler and kubelets.

    Usage: `async with SimCluster(SimOptions(seed=1)) as sim:` then point a client
    at `sim.url` with `sim.token` (or `sim.write_kubeconfig(path)`), create pods
    with `await sim.create("pods", pod_manifest("web-1"), namespace="default")`,
    and read true transition times from `sim.truth`.
    """

    def __init__(self, options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self.rng = random.Random(self.options.seed)
        self.truth = GroundTruth()
        self.store = ObjectStore(resources=RESOURCES, history_size=self.options.history_size)
        self.registry = Registry(
            store=self.store,
            truth=self.truth,
            rng=self.rng,
            storage_classes=self.options.storage_classes,
        )
        self.token = self.options.token or secrets.token_urlsafe(32)
        self.readonly_token = self.options.readonly_token or secrets.token_urlsafe(32)
        self.url = ""
        self.tasks = TaskSet()
        self.faults = Faults(store=self.store)
        """Fault injection (dropped watches, 410s, 429/5xx, malformed lines, stalls, delays)."""
        self._server = ApiServer(
            registry=self.registry,
            options=self.options,
            tokens=Tokens(writer=self.token, reader=self.readonly_token),
            faults=self.faults,
        )
        self._runner: web.AppRunner | None = None
        self.event_expiry = (
            EventExpiry(store=self.store, tasks=self.tasks, ttl=self.options.event_ttl)
            if self.options.event_ttl is not None
            else None
        )
        recorder = EventRecorder(registry=self.registry)
        nodes = self.options.names_of_nodes()
        for name in BUILTIN_NAMESPACES:
            self.registry.create(
                "namespaces", {"metadata": {"name": name}}, namespace=None, manager="kube-apiserver"
            )
        self.kubelets: dict[str, Kubelet] = {}
        self._bound: dict[str, str] = {}
        """Pod uid -> its node, once seen bound (nodeName never changes after)."""
        for index, node in enumerate(nodes, start=1):
            images = (*self.options.preloaded_images, *self.options.node_images.get(node, ()))
            self.registry.create(
                "nodes",
                node_object(name=node, index=index, images=images),
                namespace=None,
                manager="kubelet",
            )
            self.kubelets[node] = Kubelet(
                node=node,
                index=index,
                registry=self.registry,
                recorder=recorder,
                options=self.options,
                rng=self.rng,
                tasks=self.tasks,
                images=images,
            )
        self.scheduler = Scheduler(
            registry=self.registry,
            recorder=recorder,
            options=self.options,
            rng=self.rng,
            tasks=self.tasks,
            nodes=nodes,
            instance="default-scheduler-sim-control-plane",
        )
        # Neither learns anything from a /status write: the scheduler reads no MODIFIED, a
        # kubelet learns of its pods from their binding and deletion mark (main writes).
        self.store.listen("pods", self.scheduler.on_pod, status_writes=False)
        self.store.listen("pods", self._route_to_kubelet, status_writes=False)
        self.store.listen("nodes", self.scheduler.on_node)
        self.controllers = ControllerManager(
            registry=self.registry,
            recorder=recorder,
            options=self.options,
            rng=self.rng,
            tasks=self.tasks,
        )
        """The simulated kube-controller-manager (ReplicaSet, Deployment, ... controllers)."""

    def _route_to_kubelet(self, type_: str, pod: dict[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        node = self._bound.get(uid)
        if node is None:
            spec = pod.get("spec")
            # A Fragment: a /status write, which cannot bind the pod (see store.Listener).
            node = spec.get("nodeName") if spec.__class__ is dict else None
            if node:
                self._bound[uid] = node
        if type_ == "DELETED":
            self._bound.pop(uid, None)
        kubelet = self.kubelets.get(node or "")
        if kubelet is not None:
            kubelet.on_pod(type_, pod)

    # lifecycle

    async def start(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the API on host:port (0 picks a free port) and set `url`."""
        if self._runner is not None:
            raise RuntimeError("SimCluster already started")
        runner = web.AppRunner(self._server.app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        tls = certs.server_context() if self.options.tls else None
        site = web.TCPSite(runner, host, port, ssl_context=tls)
        await site.start()
        self._runner = runner
        if self.event_expiry is not None:
            self.event_expiry.start()
        bound = runner.addresses[0]
        self._server.server_address = f"{bound[0]}:{bound[1]}"
        self.url = f"{'https' if tls else 'http'}://{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        """End watches, stop the control plane and the server; idempotent."""
        self._server.close_watches()
        await self.tasks.cancel_all()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> SimCluster:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # client conveniences (in-process, no HTTP)

    def write_kubeconfig(self, path: str | os.PathLike[str], *, token: str | None = None) -> Path:
        """Write a kubeconfig for this cluster (context `tracewatch-sim`); needs `start()` first."""
        if not self.url:
            raise RuntimeError("start the SimCluster before writing its kubeconfig")
        ca = certs.CA_PEM if self.options.tls else None
        return write_kubeconfig(path, server=self.url, token=token or self.token, ca_pem=ca)

    def client_ssl_context(self) -> ssl.SSLContext | None:
        """For hand-made clients (aiohttp `ssl=`): trusts the simulator's CA; None without TLS."""
        return certs.client_context() if self.options.tls else None

    async def create(
        self, resource: str, obj: dict[str, Any], *, namespace: str | None = "default"
    ) -> dict[str, Any]:
        """Create an object as a client would (manager `tracewatch-sim`); returns it as stored."""
        stored = self.registry.create(
            resource, orjson.loads(orjson.dumps(obj)), namespace=namespace, manager=CLIENT_MANAGER
        )
        return orjson.loads(stored.data)

    async def delete(
        self,
        resource: str,
        name: str,
        *,
        namespace: str | None = "default",
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        """DELETE as a client would: bound pods terminate gracefully through their kubelet."""
        stored = self.registry.delete(
            resource, namespace=namespace, name=name, grace_period_seconds=grace_period_seconds
        )
        return orjson.loads(stored.data)

    def get(self, resource: str, name: str, *, namespace: str | None = "default") -> dict[str, Any]:
        """The stored object (a private copy); raises ApiError 404."""
        return orjson.loads(self.registry.get(resource, namespace=namespace, name=name).data)
