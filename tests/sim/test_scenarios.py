"""Every scenario runs to completion on a fast cluster and leaves the truth it promises."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sim.conftest import MakeSim
from tests.sim.control import CONTROL
from tracewatch.sim.scenarios import SCENARIOS, run_scenario

FAST_PARAMS: dict[str, dict[str, Any]] = {
    "supersede": {"slow_ready_seconds": 0.5},
    "job": {"run_seconds": 0.05},
    "unschedulable": {"fix_after_seconds": 0.1},
    "crashloop": {"run_seconds": 0.02},
    "churn": {"rate": 200.0, "namespaces": 4, "duration": 0.5},
}
"""Scenario parameters that keep each run well under a second or two."""

PROMISES: dict[str, tuple[str, str]] = {
    "startup": ("pods", "ready"),
    "deployment": ("deployments", "rollout_complete:2"),
    "supersede": ("deployments", "superseded:2"),
    "statefulset": ("statefulsets", "ready:3"),
    "job": ("jobs", "complete"),
    "image-pull-failure": ("pods", "image_pull_backoff:app"),
    "unschedulable": ("pods", "unschedulable"),
    "deletions": ("pods", "deleted"),
    "crashloop": ("pods", "crashloop:app"),
    "daemonset": ("daemonsets", "ready:3"),
    "churn": ("pods", "ready"),
}
"""For each scenario, a truth key every object of that resource it created must carry."""


def test_every_scenario_has_a_promise() -> None:
    """The registry and this table agree, so a new scenario cannot slip in untested."""
    assert set(SCENARIOS) == set(PROMISES)


@pytest.mark.parametrize("name", sorted(PROMISES))
async def test_scenario_runs_and_its_objects_reach_their_state(
    make_sim: MakeSim, name: str
) -> None:
    """run_scenario returns once done; the objects it reports have the transition it promises."""
    sim = await make_sim(**CONTROL)
    result = await run_scenario(sim, name, timeout=10, **FAST_PARAMS.get(name, {}))
    resource, key = PROMISES[name]
    uids = result.uids(resource)
    assert uids, f"{name} created no {resource}"
    for uid in uids:
        assert key in sim.truth.times(uid), (name, sim.truth.identity(uid))


async def test_churn_spreads_pods_over_namespaces(make_sim: MakeSim) -> None:
    """churn creates rate x duration pods, round-robin over its namespaces."""
    sim = await make_sim(**CONTROL)
    result = await run_scenario(sim, "churn", rate=100.0, namespaces=3, duration=0.3)
    assert len(result.objects) == 30
    assert {o.namespace for o in result.objects} == {"churn-0", "churn-1", "churn-2"}


async def test_churn_deletes_each_pod_once_ready(make_sim: MakeSim) -> None:
    """Every churned pod becomes Ready, is then deleted, and is gone when churn returns."""
    sim = await make_sim(**CONTROL)
    result = await run_scenario(sim, "churn", rate=100.0, namespaces=2, duration=0.2)
    for uid in result.uids("pods"):
        times = sim.truth.times(uid)
        assert times["ready"] <= times["deletion_requested"] <= times["deleted"]
    assert sim.store.count("pods") == 0


async def test_churn_that_cannot_finish_times_out(make_sim: MakeSim) -> None:
    """Pods that never become Ready (no node) end churn with TimeoutError at its deadline."""
    sim = await make_sim(**CONTROL, nodes=0)
    with pytest.raises(TimeoutError):
        await run_scenario(sim, "churn", rate=100.0, namespaces=1, duration=0.05, timeout=0.2)


async def test_unknown_scenario_is_a_key_error(make_sim: MakeSim) -> None:
    """Asking for a scenario that does not exist raises KeyError naming it."""
    sim = await make_sim()
    with pytest.raises(KeyError, match="nope"):
        await run_scenario(sim, "nope")
