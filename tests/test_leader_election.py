"""`--leader-elect` end to end: two replicas watch one simulated cluster, only the leader exports.

In process: two real Pipelines gated by their electors export into one OTLP gRPC
receiver; each replica tags its spans with a resource attribute so the test can
tell who sent what. As processes: two `tracewatch run --leader-elect`, the
leader SIGKILLed, the standby's /metrics shows it took over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tracewatch.config import ConfigError, load
from tracewatch.daemon import (
    Pipeline,
    exporter_from_settings,
    leader_elector,
    register_leader_metric,
)
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.leader import LeaderElector
from tracewatch.sim import Latency, SimCluster, SimOptions, pod_manifest

from .receivers import GrpcReceiver, ReceivedSpan

ROOT = Path(__file__).resolve().parents[1]
LEASE_S = 1.0
ELECTION_FLAGS = {"leader_elect": True, "lease_duration": "1s", "renew_deadline": "700ms",
                  "retry_period": "200ms"}
FAST = SimOptions(
    seed=21,
    scheduling=Latency.fixed(0.01),
    kubelet_sync=Latency.fixed(0.005),
    sandbox=Latency.fixed(0.01),
    pull=Latency.fixed(0.05),
    container_create=Latency.fixed(0.005),
    container_start=Latency.fixed(0.01),
    readiness=Latency.fixed(0.02),
    termination=Latency.fixed(0.01),
)


@dataclass
class Replica:
    name: str
    connection: ApiConnection
    pipeline: Pipeline
    elector: LeaderElector
    stop: asyncio.Event
    tasks: list[asyncio.Task[None]]

    def leader_metric(self) -> float | None:
        return self.pipeline.metrics.registry.get_sample_value("tracewatch_leader")

    async def kill(self) -> None:
        """Die without releasing the Lease: the elector just stops, then the pipeline."""
        self.elector.config = dataclasses.replace(self.elector.config, release_on_cancel=False)
        self.tasks[1].cancel()
        await asyncio.gather(self.tasks[1], return_exceptions=True)
        self.stop.set()
        await asyncio.gather(self.tasks[0], return_exceptions=True)


@contextlib.asynccontextmanager
async def replica(name: str, *, kubeconfig: Path, endpoint: str) -> AsyncIterator[Replica]:
    settings = load(flags={"exporter": "otlp", "otlp_endpoint": endpoint,
                           "settle_delay": "300ms", **ELECTION_FLAGS}, environ={})
    connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
    elector = leader_elector(settings, connection=connection,
                             environ={"POD_NAME": name, "POD_NAMESPACE": "default"})
    exporter = exporter_from_settings(settings,
                                      environ={"OTEL_RESOURCE_ATTRIBUTES": f"replica={name}"})
    pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter, gate=elector)
    register_leader_metric(pipeline.metrics.registry, elector=elector)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(pipeline.run(stop)), asyncio.create_task(elector.run())]
    try:
        yield Replica(name, connection, pipeline, elector, stop, tasks)
    finally:
        tasks[1].cancel()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        await connection.close()


def pod_spans(spans: list[ReceivedSpan], pod: str) -> list[ReceivedSpan]:
    root = next(s for s in spans
                if s.name == "k8s.CreatePod" and s.attributes.get("k8s.pod.name") == pod)
    return [s for s in spans if s.trace_id == root.trace_id]


def has_root(pod: str) -> Callable[[list[ReceivedSpan]], bool]:
    return lambda got: any(s.name == "k8s.CreatePod" and s.attributes.get("k8s.pod.name") == pod
                           for s in got)


async def test_only_the_leader_exports_and_the_standby_takes_over_when_it_dies(
    tmp_path: Path,
) -> None:
    """Both replicas reconstruct every trace but only the leader's reach the backend; after
    the leader is killed the standby takes the Lease and exports the next pod's trace."""
    async with GrpcReceiver() as receiver, SimCluster(FAST) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        async with (
            replica("replica-a", kubeconfig=kubeconfig, endpoint=receiver.endpoint) as a,
            replica("replica-b", kubeconfig=kubeconfig, endpoint=receiver.endpoint) as b,
        ):
            async with asyncio.timeout(10):
                while not (a.pipeline.ready and b.pipeline.ready
                           and (a.elector.leading or b.elector.leading)):
                    await asyncio.sleep(0.02)
            leader, standby = (a, b) if a.elector.leading else (b, a)
            assert (leader.leader_metric(), standby.leader_metric()) == (1.0, 0.0)
            assert standby.pipeline.ready, "a standby is ready: readiness is about informers"

            await sim.create("pods", pod_manifest("before", image="nginx:1.27"))
            await receiver.wait_for(has_root("before"), timeout=15)
            async with asyncio.timeout(5):
                await standby.pipeline.wait_for_traces(1)
            before = pod_spans(receiver.spans(), "before")
            assert {s.resource["replica"] for s in before} == {leader.name}
            assert len({s.span_id for s in before}) == len(before), "each span exported once"
            assert standby.pipeline.queue.stats.exported == 0
            # The standby keeps a takeover window of what it emitted, then lets it go.
            async with asyncio.timeout(5):
                while standby.pipeline.queue.stats.dropped.get("standby", 0) < len(before):
                    await asyncio.sleep(0.1)

            await leader.kill()
            killed_at = time.monotonic()
            # Finished while the dead leader's Lease has not expired: only the standby saw it.
            await sim.create("pods", pod_manifest("during", image="busybox:1.36"))
            async with asyncio.timeout(LEASE_S + 1.0):
                await standby.elector.wait_until(leading=True)
            assert time.monotonic() - killed_at <= LEASE_S + 1.0
            assert standby.leader_metric() == 1.0
            await receiver.wait_for(has_root("during"), timeout=15)
            during = pod_spans(receiver.spans(), "during")
            assert {s.resource["replica"] for s in during} == {standby.name}

            await sim.create("pods", pod_manifest("after", image="redis:7.4"))
            await receiver.wait_for(has_root("after"), timeout=15)
            after = pod_spans(receiver.spans(), "after")
            assert {s.resource["replica"] for s in after} == {standby.name}
            assert {s.name for s in after} >= {"k8s.CreatePod", "scheduler.SchedulePod",
                                               "kubelet.PullImage", "kubelet.StartContainer"}
            lease = sim.registry.get("leases", namespace="default", name="tracewatch").obj
            assert lease["spec"]["holderIdentity"] == standby.name


def test_leader_election_settings_parse_and_validate() -> None:
    """The flags load with their defaults and units; bad timing is one clear ConfigError."""
    defaults = load(flags={}, environ={})
    assert (defaults.leader_elect, defaults.lease_namespace, defaults.lease_name) == (
        False, None, "tracewatch")
    assert (defaults.lease_duration, defaults.renew_deadline, defaults.retry_period) == (
        15.0, 10.0, 2.0)
    given = load(flags={"lease_namespace": "obs", "lease_name": "tw-a"},
                 environ={"TRACEWATCH_LEADER_ELECT": "true",
                          "TRACEWATCH_RETRY_PERIOD": "500ms"})
    assert (given.leader_elect, given.lease_namespace, given.lease_name,
            given.retry_period) == (True, "obs", "tw-a", 0.5)
    with pytest.raises(ConfigError, match=r"'renew_deadline' .* shorter than 'lease_duration'"):
        load(flags={"lease_duration": "10s", "renew_deadline": "10s"}, environ={})
    with pytest.raises(ConfigError, match="'retry_period'"):
        load(flags={"retry_period": "9s"}, environ={})
    with pytest.raises(ConfigError, match="'lease_duration' must be whole seconds"):
        load(flags={"lease_duration": "1500ms", "renew_deadline": "1s",
                    "retry_period": "100ms"}, environ={})


def test_elector_from_settings_uses_pod_identity_and_namespace() -> None:
    """The downward-API variables name the holder and the Lease's namespace unless set."""
    settings = load(flags=ELECTION_FLAGS, environ={})
    connection = object()
    elector = leader_elector(settings, connection=connection,  # type: ignore[arg-type]
                             environ={"POD_NAME": "tw-1", "POD_NAMESPACE": "tracewatch"})
    assert (elector.config.identity, elector.config.namespace, elector.config.name) == (
        "tw-1", "tracewatch", "tracewatch")
    assert (elector.config.lease_duration_s, elector.config.renew_deadline_s,
            elector.config.retry_period_s) == pytest.approx((1.0, 0.7, 0.2))
    explicit = load(flags={**ELECTION_FLAGS, "lease_namespace": "obs"}, environ={})
    elector = leader_elector(explicit, connection=connection,  # type: ignore[arg-type]
                             environ={"POD_NAME": "tw-1", "POD_NAMESPACE": "tracewatch"})
    assert elector.config.namespace == "obs"


# As processes: the wiring in `tracewatch run`.


async def _start(name: str, kubeconfig: Path, endpoint: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACEWATCH_", "OTEL_", "KUBECONFIG", "POD_"))}
    env |= {"PYTHONPATH": str(ROOT), "POD_NAME": name, "POD_NAMESPACE": "default"}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tracewatch", "run", "--kubeconfig", str(kubeconfig),
        "--otlp-endpoint", endpoint, "--ops-address", "127.0.0.1:0", "--log-format", "json",
        "--leader-elect", "--lease-duration", "1s", "--renew-deadline", "700ms",
        "--retry-period", "200ms",
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def _ops_base(process: asyncio.subprocess.Process) -> str:
    """Read JSON log lines until the ops server says where it listens."""
    assert process.stderr is not None
    async with asyncio.timeout(20):
        async for raw in process.stderr:
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(raw)
                if record.get("event") == "ops.listening":
                    return f"http://127.0.0.1:{record['address'].rsplit(':', 1)[1]}"
    raise AssertionError("tracewatch exited before listening")


async def _drain(process: asyncio.subprocess.Process) -> list[str]:
    assert process.stderr is not None
    return [line.decode() async for line in process.stderr]


async def _leader_metric(session: aiohttp.ClientSession, base: str) -> float | None:
    async with session.get(f"{base}/metrics") as response:
        text = await response.text()
    for family in text_string_to_metric_families(text):
        if family.name == "tracewatch_leader":
            return family.samples[0].value
    return None


async def _ready(session: aiohttp.ClientSession, base: str) -> bool:
    async with session.get(f"{base}/readyz") as response:
        return response.status == 200


async def test_processes_fail_over_on_sigkill_and_release_on_sigterm(tmp_path: Path) -> None:
    """SIGKILL the leading `tracewatch run --leader-elect`: the other takes over within the
    lease duration; SIGTERM on the new leader releases the Lease and exits 0."""
    async with GrpcReceiver() as receiver, SimCluster(FAST) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        processes = {name: await _start(name, kubeconfig, receiver.endpoint)
                     for name in ("tw-a", "tw-b")}
        try:
            bases = {name: await _ops_base(p) for name, p in processes.items()}
            drains = {name: asyncio.create_task(_drain(p)) for name, p in processes.items()}
            async with aiohttp.ClientSession() as session:
                # Both become ready (readiness is about informers, not leadership); one leads.
                async with asyncio.timeout(15):
                    while True:
                        metrics = {n: await _leader_metric(session, b) for n, b in bases.items()}
                        ready = [await _ready(session, b) for b in bases.values()]
                        if sorted(metrics.values()) == [0.0, 1.0] and all(ready):
                            break
                        await asyncio.sleep(0.1)
                leader = next(n for n, v in metrics.items() if v == 1.0)
                standby = next(n for n in processes if n != leader)
                processes[leader].kill()
                killed_at = time.monotonic()
                async with asyncio.timeout(LEASE_S + 2.0):
                    while await _leader_metric(session, bases[standby]) != 1.0:
                        await asyncio.sleep(0.05)
                assert time.monotonic() - killed_at <= LEASE_S + 2.0
            holder = sim.registry.get("leases", namespace="default", name="tracewatch")
            assert holder.obj["spec"]["holderIdentity"] == standby
            processes[standby].send_signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                assert await processes[standby].wait() == 0
            lines = await drains[standby]
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        released = sim.registry.get("leases", namespace="default", name="tracewatch").obj
        assert released["spec"]["holderIdentity"] == ""
        assert any('"leader.released"' in line for line in lines)
