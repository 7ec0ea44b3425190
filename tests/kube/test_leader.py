"""Leader election against the simulated API server over HTTP: acquire, renew, failover, release.

Durations are short (lease 1 s, renew deadline 0.7 s, retry 0.2 s) so a failover takes
about a second; each test waits on the electors' state rather than sleeping blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog

from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.leader import (
    LeaderElector,
    LeaseConfig,
    LeaseTransport,
    default_identity,
    default_lease_namespace,
    micro_time,
)
from tracewatch.sim import SimCluster, SimOptions

LEASE_S, RENEW_S, RETRY_S = 1.0, 0.7, 0.2
MARGIN_S = 1.0
"""Jittered retry (up to 2.2 x retry) plus a request and scheduling slack."""
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

Connect = Callable[..., Awaitable[ApiConnection]]


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    async with SimCluster(SimOptions(seed=3)) as cluster:
        yield cluster


@pytest.fixture
async def connect(sim: SimCluster, tmp_path: Path) -> AsyncIterator[Connect]:
    """Open ApiConnections to the sim (with the writer token unless told otherwise)."""
    opened: list[ApiConnection] = []

    async def make(*, token: str | None = None) -> ApiConnection:
        path = sim.write_kubeconfig(tmp_path / f"kubeconfig-{len(opened)}", token=token)
        connection = await ApiConnection.from_kubeconfig(config_file=path)
        opened.append(connection)
        return connection

    yield make
    for connection in opened:
        await connection.close()


def config(identity: str, **overrides: Any) -> LeaseConfig:
    values: dict[str, Any] = {
        "namespace": "default", "name": "tracewatch", "identity": identity,
        "lease_duration_s": LEASE_S, "renew_deadline_s": RENEW_S, "retry_period_s": RETRY_S,
    }
    return LeaseConfig(**(values | overrides))


def lease(sim: SimCluster, name: str = "tracewatch") -> dict[str, Any]:
    """The Lease as the simulator stores it."""
    return orjson.loads(sim.registry.get("leases", namespace="default", name=name).data)


@contextlib.asynccontextmanager
async def campaigning(*electors: LeaderElector) -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks = [asyncio.create_task(e.run(), name=e.config.identity) for e in electors]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def first_leader(*electors: LeaderElector, within: float) -> LeaderElector:
    waits = {asyncio.ensure_future(e.wait_until(leading=True)): e for e in electors}
    done, pending = await asyncio.wait(waits, timeout=within, return_when="FIRST_COMPLETED")
    for future in pending:
        future.cancel()
    assert done, f"nobody became leader within {within}s"
    return waits[done.pop()]


async def test_exactly_one_of_two_candidates_leads_and_renews(
    sim: SimCluster, connect: Connect
) -> None:
    """Two candidates: one leads and keeps renewing the Lease, the other stands by."""
    a = LeaderElector(transport=await connect(), config=config("replica-a"))
    b = LeaderElector(transport=await connect(), config=config("replica-b"))
    async with campaigning(a, b):
        leader = await first_leader(a, b, within=2)
        standby = b if leader is a else a
        first = lease(sim)["spec"]
        renewals = set()
        deadline = time.monotonic() + 2 * LEASE_S  # well past a lease duration
        while time.monotonic() < deadline:
            assert leader.leading and leader.exporting
            assert not standby.leading and not standby.exporting
            renewals.add(lease(sim)["spec"]["renewTime"])
            await asyncio.sleep(0.05)
        spec = lease(sim)["spec"]
    assert spec["holderIdentity"] == leader.config.identity
    assert standby.holder == leader.config.identity
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == first["acquireTime"], "renewals keep the acquisition time"
    assert MICRO_TIME.match(spec["renewTime"]) and MICRO_TIME.match(spec["acquireTime"])
    assert len(renewals) >= 5, "the leader renews about every retry period"


async def test_killed_leader_is_replaced_within_the_lease_duration(
    sim: SimCluster, connect: Connect
) -> None:
    """A leader that dies without releasing is replaced once its Lease expires, not before."""
    a = LeaderElector(transport=await connect(),
                      config=config("replica-a", release_on_cancel=False))
    b = LeaderElector(transport=await connect(),
                      config=config("replica-b", release_on_cancel=False))
    async with campaigning(a, b) as tasks:
        leader = await first_leader(a, b, within=2)
        standby = b if leader is a else a
        acquired = lease(sim)["spec"]["acquireTime"]
        tasks[0 if leader is a else 1].cancel()
        killed_at = time.monotonic()
        async with asyncio.timeout(LEASE_S + MARGIN_S):
            await standby.wait_until(leading=True)
        took = time.monotonic() - killed_at
        spec = lease(sim)["spec"]
    assert took >= LEASE_S - 2.2 * RETRY_S - 0.1, f"took over after {took:.2f}s: too early"
    assert spec["holderIdentity"] == standby.config.identity
    assert spec["leaseTransitions"] == 1
    assert spec["acquireTime"] != acquired


async def test_clean_shutdown_releases_so_the_standby_takes_over_at_once(
    sim: SimCluster, connect: Connect
) -> None:
    """Cancelling a leader releases the Lease; the standby takes it well before it would expire."""
    long_lease = {"lease_duration_s": 5.0, "renew_deadline_s": 3.0}
    a = LeaderElector(transport=await connect(), config=config("replica-a", **long_lease))
    b = LeaderElector(transport=await connect(), config=config("replica-b", **long_lease))
    async with campaigning(a, b) as tasks:
        leader = await first_leader(a, b, within=2)
        standby = b if leader is a else a
        leader_task = tasks[0 if leader is a else 1]
        leader_task.cancel()
        await asyncio.gather(leader_task, return_exceptions=True)
        released_at = time.monotonic()
        assert not leader.exporting
        async with asyncio.timeout(2.5):
            await standby.wait_until(leading=True)
        took = time.monotonic() - released_at
        spec = lease(sim)["spec"]
    assert took < 2.5 < long_lease["lease_duration_s"], f"took {took:.2f}s after the release"
    assert spec["holderIdentity"] == standby.config.identity
    assert spec["leaseTransitions"] == 1


class _Intruding:
    """Forwards to a real connection, but before its first PUT another writer takes the Lease."""

    def __init__(self, inner: LeaseTransport, sim: SimCluster) -> None:
        self.inner, self.sim, self.intruded = inner, sim, False

    async def get_json_bytes(self, path: str, params: Mapping[str, str] | None = None, *,
                             timeout: float = 60.0) -> bytes:
        return await self.inner.get_json_bytes(path, params, timeout=timeout)

    async def send_json(self, method: str, path: str, body: bytes, *, timeout: float) -> bytes:
        if method == "PUT" and not self.intruded:
            self.intruded = True
            current = lease(self.sim)
            current["spec"]["holderIdentity"] = "intruder"
            current["spec"]["leaseTransitions"] += 1
            self.sim.registry.replace("leases", current, namespace="default",
                                      name="tracewatch", manager="intruder")
        return await self.inner.send_json(method, path, body, timeout=timeout)

    def credentials_rejected(self) -> None:
        self.inner.credentials_rejected()


async def test_a_conflicting_update_loses_the_race_and_retries(
    sim: SimCluster, connect: Connect
) -> None:
    """A 409 on update is a lost race: no error, the new holder is respected until it expires."""
    now = micro_time(time.time_ns())
    await sim.create("leases", {
        "metadata": {"name": "tracewatch"},
        "spec": {"holderIdentity": "departed", "leaseDurationSeconds": 1, "acquireTime": now,
                 "renewTime": now, "leaseTransitions": 4},
    })
    transport = _Intruding(await connect(), sim)
    elector = LeaderElector(transport=transport, config=config("replica-a"))
    seen: list[str | None] = []
    async with campaigning(elector):
        async with asyncio.timeout(3 * LEASE_S + MARGIN_S):
            while not elector.leading:
                seen.append(elector.holder)
                assert elector.problem is None
                await asyncio.sleep(0.05)
        spec = lease(sim)["spec"]
    assert transport.intruded
    assert "intruder" in seen, "after the conflict it re-read the Lease and saw the new holder"
    assert spec["holderIdentity"] == "replica-a"
    assert spec["leaseTransitions"] == 6, "departed -> intruder -> replica-a"


async def test_read_only_token_gives_one_clear_error_and_no_leadership(
    sim: SimCluster, connect: Connect
) -> None:
    """Without write access the elector never leads and logs one error naming the permission."""
    elector = LeaderElector(transport=await connect(token=sim.readonly_token),
                            config=config("replica-a"))
    with structlog.testing.capture_logs() as logs:
        async with campaigning(elector):
            async with asyncio.timeout(5):
                while elector.problem is None:
                    await asyncio.sleep(0.02)
            await asyncio.sleep(5 * RETRY_S)  # several more tries, still one error line
            assert not elector.leading and not elector.exporting
    errors = [e for e in logs if e["log_level"] == "error"]
    assert len(errors) == 1, "repeated failures are reported once"
    assert "cannot create leases.coordination.k8s.io" in errors[0]["problem"]
    assert "403" in errors[0]["problem"]
    assert elector.problem == errors[0]["problem"]
    assert sim.token not in str(logs) and sim.readonly_token not in str(logs)


class _Severable:
    """Forwards to a real connection until cut off, then every request fails to connect."""

    def __init__(self, inner: LeaseTransport) -> None:
        self.inner, self.cut = inner, False

    async def get_json_bytes(self, path: str, params: Mapping[str, str] | None = None, *,
                             timeout: float = 60.0) -> bytes:
        if self.cut:
            raise aiohttp.ClientConnectionError("partitioned")
        return await self.inner.get_json_bytes(path, params, timeout=timeout)

    async def send_json(self, method: str, path: str, body: bytes, *, timeout: float) -> bytes:
        if self.cut:
            raise aiohttp.ClientConnectionError("partitioned")
        return await self.inner.send_json(method, path, body, timeout=timeout)

    def credentials_rejected(self) -> None:
        self.inner.credentials_rejected()


async def test_leader_that_cannot_renew_stops_exporting_before_the_standby_takes_over(
    connect: Connect,
) -> None:
    """Cut off from the API server, the leader closes its gate within the renew deadline,
    before the standby's lease-duration wait ends: never two exporters at once."""
    a_transport = _Severable(await connect())
    b_transport = _Severable(await connect())
    a = LeaderElector(transport=a_transport, config=config("replica-a"))
    b = LeaderElector(transport=b_transport, config=config("replica-b"))
    async with campaigning(a, b):
        leader = await first_leader(a, b, within=2)
        standby = b if leader is a else a
        (a_transport if leader is a else b_transport).cut = True
        cut_at = time.monotonic()
        async with asyncio.timeout(LEASE_S + MARGIN_S):
            while not standby.leading:
                assert not (leader.exporting and standby.exporting)
                if time.monotonic() - cut_at >= RENEW_S:
                    assert not leader.exporting, "gate still open past the renew deadline"
                await asyncio.sleep(0.01)
        await asyncio.wait_for(leader.wait_until(leading=False), timeout=RETRY_S + 0.5)
    assert "partitioned" in (leader.problem or "")


def test_lease_config_enforces_client_go_timing_rules() -> None:
    """retry x 1.2 < renew deadline < lease duration, and a lease of at least a second."""
    with pytest.raises(ValueError, match="shorter than the lease"):
        config("a", renew_deadline_s=1.0)
    with pytest.raises(ValueError, match=r"1\.2"):
        config("a", retry_period_s=0.6)
    with pytest.raises(ValueError, match="at least 1s"):
        config("a", lease_duration_s=0.5, renew_deadline_s=0.4, retry_period_s=0.1)
    with pytest.raises(ValueError, match="identity"):
        config("")
    assert config("a", lease_duration_s=1.5).lease_seconds == 2


def test_micro_time_is_rfc3339_utc_with_microseconds() -> None:
    """MicroTime: six fractional digits, Z, truncated (not rounded) from nanoseconds."""
    assert micro_time(1_700_000_000_123_456_789) == "2023-11-14T22:13:20.123456Z"
    assert micro_time(0) == "1970-01-01T00:00:00.000000Z"


def test_identity_and_namespace_defaults(tmp_path: Path) -> None:
    """POD_NAME / POD_NAMESPACE first, then hostname_pid and the service account namespace."""
    assert default_identity(environ={"POD_NAME": "tw-7f9c"}) == "tw-7f9c"
    assert default_identity(environ={}).endswith(f"_{os.getpid()}")
    ns_file = tmp_path / "namespace"
    ns_file.write_text("observability\n")
    assert default_lease_namespace(environ={"POD_NAMESPACE": "tw"}, namespace_file=str(ns_file)) \
        == "tw"
    assert default_lease_namespace(environ={}, namespace_file=str(ns_file)) == "observability"
    assert default_lease_namespace(environ={}, namespace_file=str(tmp_path / "none")) == "default"
