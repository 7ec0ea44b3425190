"""The informers against the simulated cluster over HTTP, with every fault injected repeatedly.

Each scenario creates and deletes pods (the simulated scheduler and kubelets
add status writes and Events) while one fault kind is injected every round.
The proof comes from the store's write log: every write observed exactly once
in order, or, where the history was really lost (compaction, restart), the
final state reconstructed by the relist with nothing delivered twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tracewatch.sim import SimCluster
from tracewatch.sim.faults import WriteLog

from .watch_harness import (
    FAST_INFORMERS,
    RESOURCES,
    check,
    churn,
    converge,
    sim_options,
    wait_synced,
    watching,
)


def _drop(sim: SimCluster) -> None:
    sim.faults.drop_watches()


def _compact(sim: SimCluster) -> None:
    # Compaction alone leaves open streams alone; the reconnect after a drop meets the 410.
    sim.faults.compact()
    sim.faults.drop_watches()


def _restart(sim: SimCluster) -> None:
    sim.faults.restart()


def _throttle(sim: SimCluster) -> None:
    sim.faults.fail(code=429, times=3, retry_after=1)
    sim.faults.drop_watches()


def _server_error(sim: SimCluster) -> None:
    sim.faults.fail(code=500, times=2, verb="watch")
    sim.faults.fail(code=503, times=1, verb="list")
    sim.faults.drop_watches()


def _malformed(sim: SimCluster) -> None:
    sim.faults.malformed(lines=2)


def _stall(sim: SimCluster) -> None:
    sim.faults.stall_watches()


FAULTS: dict[str, tuple[Callable[[SimCluster], None], bool]] = {
    # name: (inject once, lossless: no history is lost so every write must be seen)
    "dropped_connections": (_drop, True),
    "compaction_410": (_compact, False),
    "restart_history_lost": (_restart, False),
    "throttled_429": (_throttle, True),
    "server_errors_5xx": (_server_error, True),
    "malformed_lines": (_malformed, True),
    "stalled_streams": (_stall, True),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_no_transition_lost_or_repeated_under_fault(fault: str, tmp_path: Path) -> None:
    """Under repeated injection of one fault kind, every object transition is observed exactly
    once (or, where history was lost, the relisted state reconstructed without repeats)."""
    inject, lossless = FAULTS[fault]
    options = FAST_INFORMERS
    pause = 0.15
    if fault == "stalled_streams":
        # A silent stream is only noticed by the read timeout; bookmarks (0.1 s) keep
        # healthy streams well inside it.
        options = dataclasses.replace(FAST_INFORMERS, read_timeout=0.3)
        pause = 0.4
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        log = WriteLog(store=sim.store, resources=RESOURCES)
        async with watching(sim, tmp_path, options=options) as state:
            await wait_synced(state)
            await churn(sim, rounds=5, pause=pause, inject=lambda: inject(sim))
            sim.faults.clear()
            await converge(state, log)
            verdicts = {r: check(state, log, resource=r, lossless=lossless) for r in RESOURCES}

    assert sum(sim.faults.injected.values()) > 0, "the fault never hit a client"
    assert verdicts["pods"].delivered > 20 and verdicts["events"].delivered > 10
    if fault == "malformed_lines":
        assert state.stat("decode_errors") >= 5
    if fault == "stalled_streams":
        assert state.restarts("read_timeout") >= 3
    if fault in ("throttled_429", "server_errors_5xx"):
        assert state.restarts("throttled") + state.restarts("server_error") >= 3
    if not lossless:
        assert state.stat("relists") >= 3, "the 410 never forced a relist"
    else:
        assert state.stat("relists") == 0


async def test_delayed_delivery_reorders_types_but_loses_nothing(tmp_path: Path) -> None:
    """Events held back behind pods (cross-type reordering) still arrive complete and in order
    within their own type."""
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        log = WriteLog(store=sim.store, resources=RESOURCES)
        async with watching(sim, tmp_path) as state:
            await wait_synced(state)
            sim.faults.delay(resource="events", seconds=0.05)
            await churn(sim, rounds=3)
            sim.faults.clear()
            await converge(state, log)
            for resource in RESOURCES:
                check(state, log, resource=resource, lossless=True)
    assert sim.faults.injected["delay"] > 0
    # Some Event arrived after a pod write with a higher resourceVersion: reordered.
    kinds = [(o.resource, int(o.obj.metadata.resource_version)) for o in state.observations]
    newest_pod = 0
    reordered = 0
    for resource, rv in kinds:
        if resource == "pods":
            newest_pod = max(newest_pod, rv)
        elif resource == "events" and rv < newest_pod:
            reordered += 1
    assert reordered > 0
