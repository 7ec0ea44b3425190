"""Tuning of the simulated cluster: size, history, latencies, tokens, seed.

Defaults make a pod start in roughly one to three seconds, so a demo of a few
pods completes in seconds while every phase is still long enough to measure.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from tracewatch.sim.storageclasses import DEFAULT_STORAGE_CLASSES, StorageClass


@dataclass(frozen=True, slots=True, kw_only=True)
class Latency:
    """A latency distribution in seconds: uniform on [low, high], or triangular with a mode."""

    low: float
    high: float
    mode: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.low <= self.high:
            raise ValueError(f"latency bounds must satisfy 0 <= low <= high, got {self}")
        if self.mode is not None and not self.low <= self.mode <= self.high:
            raise ValueError(f"latency mode must lie within [low, high], got {self}")

    @classmethod
    def fixed(cls, seconds: float) -> Latency:
        """A constant latency (handy in tests that want exact phase lengths)."""
        return cls(low=seconds, high=seconds)

    def draw(self, rng: random.Random) -> float:
        """One sample, in seconds."""
        if self.low == self.high:
            return self.low
        if self.mode is not None:
            return rng.triangular(self.low, self.high, self.mode)
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True, slots=True, kw_only=True)
class SimOptions:
    """Everything a SimCluster can be told; each default is what a demo wants."""

    nodes: int = 3
    node_names: tuple[str, ...] = ()
    """Explicit node names; empty means `node-1` .. `node-<nodes>`."""
    preloaded_images: tuple[str, ...] = ("registry.k8s.io/pause:3.10",)
    """Images every node already holds (pods using them get the "already present" event)."""
    node_images: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Extra images already on particular nodes, by node name."""
    history_size: int = 10_000
    """Watch history kept per resource; a watch from an older resourceVersion gets 410 Expired."""
    bookmark_interval: float = 5.0
    """Seconds between BOOKMARK events on watches that allow them (the real server: about 60)."""
    max_watch_backlog: int = 100_000
    """Events queued for one slow watcher before the server closes it (as the real cacher does)."""
    event_ttl: float | None = 3600.0
    """Seconds an Event lives after its last write, as kube-apiserver's --event-ttl (1 h; it
    goes within a minute after, see `sim.eventttl`); None keeps Events for ever. Not
    divided by `speed`: it is the server's setting, not a simulated latency."""
    serialize_image_pulls: bool = True
    """One image pull at a time per node, the kubelet's default (serializeImagePulls)."""

    scheduling: Latency = Latency(low=0.05, high=0.2)
    """Pod creation -> binding."""
    kubelet_sync: Latency = Latency(low=0.005, high=0.02)
    """Binding -> the kubelet's first status write (Initialized)."""
    sandbox: Latency = Latency(low=0.1, high=0.3)
    """First status write -> PodReadyToStartContainers (sandbox and network ready)."""
    pull: Latency = Latency(low=0.3, high=1.5)
    """Pulling -> Pulled for an image not on the node."""
    container_create: Latency = Latency(low=0.005, high=0.02)
    """Image ready -> Created event."""
    container_start: Latency = Latency(low=0.05, high=0.15)
    """Created -> Started (the container's startedAt)."""
    readiness: Latency = Latency(low=0.1, high=0.5)
    """Last container started -> Ready=True (the readiness probe's first success)."""
    termination: Latency = Latency(low=0.05, high=0.2)
    """Killing -> containers terminated, on graceful deletion."""
    controller_sync: Latency = Latency(low=0.005, high=0.03)
    """A write -> a controller (ReplicaSet, Deployment, Job...) acting on it (informer + queue)."""
    pv_bind: Latency = Latency(low=0.05, high=0.3)
    """The PV controller's reaction to a claim (binding, or handing it to a provisioner)."""
    provision: Latency = Latency(low=0.5, high=2.0)
    """An external provisioner's Provisioning event -> the PersistentVolume created."""
    container_run: Latency = Latency(low=0.05, high=0.2)
    """How long an init container runs when its spec says nothing (`SIM_RUN_SECONDS`)."""
    restart_backoff: float = 10.0
    """The kubelet's first CrashLoopBackOff / ImagePullBackOff delay in s (doubles, 300 s cap),
    and the Job controller's pod-failure backoff; divided by `speed` like every latency."""
    storage_classes: tuple[StorageClass, ...] = DEFAULT_STORAGE_CLASSES
    """The StorageClasses the PV controller and scheduler know (see `sim.storageclasses`)."""
    speed: float = 1.0
    """Divides every latency and simulated duration (2.0 runs the control plane twice as fast).
    Kubernetes' own spec durations (minReadySeconds, progressDeadlineSeconds,
    activeDeadlineSeconds) are compared with second-precision timestamps and stay unscaled."""

    tls: bool = False
    """Serve HTTPS with the simulator's fixed CA (see `tracewatch.sim.certs`), as the real
    server does. kubectl (client-go) sends bearer tokens only over TLS, so it needs this;
    kubernetes_asyncio and aiohttp clients work either way."""

    seed: int | None = None
    """Seed of the random source behind every latency and node choice; None is unseeded."""
    token: str | None = None
    """The read-write bearer token; None generates one."""
    readonly_token: str | None = None
    """The read-only bearer token (writes get 403); None generates one."""

    def delay(self, latency: Latency, rng: random.Random) -> float:
        """One draw of `latency`, in seconds, divided by the speed factor."""
        return latency.draw(rng) / self.speed

    def scaled(self, seconds: float) -> float:
        """A simulated duration (a container's run time, a backoff) divided by the speed factor."""
        return seconds / self.speed

    def names_of_nodes(self) -> tuple[str, ...]:
        """The node names this cluster starts with."""
        return self.node_names or tuple(f"node-{i}" for i in range(1, self.nodes + 1))
