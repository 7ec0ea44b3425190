"""Fixtures for the simulator's tests: a fast cluster and an authenticated HTTP session."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tracewatch.sim import Latency, SimCluster, SimOptions

FAST = SimOptions(
    seed=7,
    scheduling=Latency.fixed(0.01),
    kubelet_sync=Latency.fixed(0.005),
    sandbox=Latency.fixed(0.01),
    pull=Latency.fixed(0.05),
    container_create=Latency.fixed(0.005),
    container_start=Latency.fixed(0.01),
    readiness=Latency.fixed(0.02),
    termination=Latency.fixed(0.01),
    bookmark_interval=0.1,
)
"""Every phase a few ms long: a pod is Ready in about 0.1 s."""

MakeSim = Callable[..., Awaitable[SimCluster]]


@pytest.fixture
async def make_sim() -> AsyncIterator[MakeSim]:
    """Start clusters with FAST options plus overrides; stop them and check for task failures."""
    started: list[SimCluster] = []

    async def make(**overrides: Any) -> SimCluster:
        sim = SimCluster(dataclasses.replace(FAST, **overrides))
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()
        assert len(sim.tasks) == 0, "control-plane tasks leaked past stop()"
        assert sim.tasks.failures == [], "a simulator task raised"


@pytest.fixture
async def sim(make_sim: MakeSim) -> SimCluster:
    return await make_sim()


@pytest.fixture
async def http(sim: SimCluster) -> AsyncIterator[aiohttp.ClientSession]:
    """A session against `sim` carrying the read-write token."""
    headers = {"Authorization": f"Bearer {sim.token}"}
    async with aiohttp.ClientSession(base_url=sim.url, headers=headers) as session:
        yield session


async def read_lines(
    response: aiohttp.ClientResponse, *, count: int | None = None, within: float = 5.0
) -> list[dict[str, Any]]:
    """Watch events from a streaming response: `count` of them, or all until the stream ends."""
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for raw in response.content:
            if raw.strip():
                events.append(json.loads(raw))
                if count is not None and len(events) >= count:
                    return

    await asyncio.wait_for(read(), timeout=within)
    return events


async def list_rv(http: aiohttp.ClientSession, path: str) -> str:
    """The resourceVersion of a List of `path`."""
    async with http.get(path) as response:
        assert response.status == 200
        return (await response.json())["metadata"]["resourceVersion"]
