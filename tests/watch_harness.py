"""Informers against a simulated cluster over HTTP, with the checks that prove nothing was lost.

`Watching` runs one informer per resource into a list of observations; `check`
compares them with the simulator's `WriteLog`: no (uid, resourceVersion)
delivered twice, versions increasing per object, nothing invented, the final
state equal to the store's, and (when no history was lost) every write seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracewatch.core.observations import Change, Observation
from tracewatch.kube.backoff import BackoffPolicy
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer, InformerOptions, RawSink
from tracewatch.kube.sharding import Shard
from tracewatch.kube.watchset import build_informers
from tracewatch.sim import Latency, SimCluster, SimOptions, pod_manifest
from tracewatch.sim.faults import WriteLog

FAST_SIM = SimOptions(
    seed=3,
    scheduling=Latency.fixed(0.01),
    kubelet_sync=Latency.fixed(0.005),
    sandbox=Latency.fixed(0.01),
    pull=Latency.fixed(0.03),
    container_create=Latency.fixed(0.005),
    container_start=Latency.fixed(0.01),
    readiness=Latency.fixed(0.02),
    termination=Latency.fixed(0.01),
    bookmark_interval=0.1,
)
"""A pod is Ready about 0.1 s after creation; bookmarks every 0.1 s."""

FAST_INFORMERS = InformerOptions(
    backoff=BackoffPolicy(initial=0.01, cap=0.05),
    watch_timeout_seconds=(1, 2),
    read_timeout=1.0,
    request_timeout=5.0,
    min_watch_seconds=0.0,
    max_retry_after=0.05,
)
"""Retries within tens of ms; server-side watch timeouts of 1-2 s exercise clean re-watches."""

RESOURCES = ("pods", "events", "nodes")
_LIVE = (Change.ADDED, Change.MODIFIED, Change.DELETED)


@dataclass
class Watching:
    """Informers of `resources` feeding `observations` (in delivery order)."""

    informers: list[Informer]
    observations: list[Observation] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def of(self, resource: str) -> list[Observation]:
        return [o for o in self.observations if o.resource == resource]

    def state(self, resource: str) -> dict[str, str]:
        """uid -> resourceVersion of what the observations say exists now."""
        state: dict[str, str] = {}
        for o in self.of(resource):
            if o.change in (Change.DELETED, Change.RELISTED_GONE):
                state.pop(o.obj.metadata.uid, None)
            else:
                state[o.obj.metadata.uid] = o.obj.metadata.resource_version
        return state

    def stat(self, name: str) -> int:
        return sum(getattr(i.stats, name) for i in self.informers)

    def restarts(self, reason: str) -> int:
        return sum(i.stats.restarts[reason] for i in self.informers)


@contextlib.asynccontextmanager
async def watching(
    sim: SimCluster,
    tmp_path: Path,
    *,
    resources: Sequence[str] = RESOURCES,
    options: InformerOptions = FAST_INFORMERS,
    shard: Shard | None = None,
    token: str | None = None,
    raw_sink: RawSink | None = None,
) -> Any:
    """Run informers against `sim` (via a kubeconfig) until the block ends; yields Watching."""
    kubeconfig = sim.write_kubeconfig(tmp_path / f"kubeconfig-{id(options)}", token=token)
    connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
    observations: list[Observation] = []
    informers = build_informers(
        connection=connection,
        sink=observations.append,
        resources=resources,
        shard=shard,
        options=options,
        raw_sink=raw_sink,
    )
    state = Watching(informers, observations)
    state.tasks = [asyncio.create_task(i.run()) for i in informers]
    try:
        yield state
    finally:
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        await connection.close()


async def wait_synced(state: Watching, *, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not all(i.has_synced for i in state.informers):
            await asyncio.sleep(0.01)


async def churn(
    sim: SimCluster,
    *,
    rounds: int,
    pods_per_round: int = 3,
    pause: float = 0.15,
    inject: Any = None,
    namespaces: Sequence[str] = ("default",),
) -> None:
    """Create pods every round (and delete an earlier one), calling `inject()` each round."""
    created: list[tuple[str, str]] = []
    for r in range(rounds):
        for i in range(pods_per_round):
            ns = namespaces[(r * pods_per_round + i) % len(namespaces)]
            name = f"p-{r}-{i}"
            await sim.create("pods", pod_manifest(name, image="busybox:1.36"), namespace=ns)
            created.append((ns, name))
        if r >= 1:
            ns, name = created[(r - 1) * pods_per_round]
            await sim.delete("pods", name, namespace=ns, grace_period_seconds=0)
        if inject is not None:
            inject()
        await asyncio.sleep(pause)


async def converge(
    state: Watching, log: WriteLog, *, resources: Sequence[str] = RESOURCES, timeout: float = 8.0
) -> None:
    """Wait until what the informers observed equals what the store holds, per resource."""
    async with asyncio.timeout(timeout):
        while any(state.state(r) != log.final_versions(r) for r in resources):
            await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Verdict:
    delivered: int
    written: int
    missed: int
    """Writes never delivered (only possible where the history was lost)."""


def check(
    state: Watching, log: WriteLog, *, resource: str, lossless: bool
) -> Verdict:
    """Assert the delivery invariants for one resource against the store's write log."""
    observed = state.of(resource)
    live = [o for o in observed if o.change in _LIVE]
    keys = [(o.obj.metadata.uid, o.obj.metadata.resource_version) for o in live]
    assert len(keys) == len(set(keys)), f"{resource}: a (uid, resourceVersion) delivered twice"
    last: dict[str, int] = {}
    for uid, rv in keys:
        assert int(rv) > last.get(uid, 0), f"{resource}: {uid} went back to version {rv}"
        last[uid] = int(rv)
    written = {(w.uid, w.resource_version): w.type for w in log.of(resource)}
    invented = [k for k in keys if k not in written]
    assert not invented, f"{resource}: versions never written were delivered: {invented[:3]}"
    gone = [o.obj.metadata.uid for o in observed if o.change is Change.RELISTED_GONE]
    assert len(gone) == len(set(gone)), f"{resource}: an object relisted as gone twice"
    deleted = {w.uid for w in log.of(resource) if w.type == "DELETED"}
    assert set(gone) <= deleted, f"{resource}: an object still stored was reported gone"
    missed = set(written) - set(keys)
    if lossless:
        example = sorted(missed)[:3]
        assert not missed, f"{resource}: {len(missed)} writes never delivered, e.g. {example}"
        assert not gone, f"{resource}: deletions reported by relist although no history was lost"
    return Verdict(delivered=len(keys), written=len(written), missed=len(missed))


def sim_options(**overrides: Any) -> SimOptions:
    return dataclasses.replace(FAST_SIM, **overrides)
