"""`tracewatch demo`: the real pipeline, over HTTP, against an in-process simulated cluster.

Starts the simulator on 127.0.0.1 (a random port), writes a kubeconfig for it,
runs `Pipeline` exactly as `tracewatch run` does, drives a scenario from the
simulator's registry (`startup` by default: a few pods, one image already
cached on every node), waits until every lifecycle it caused has been
emitted, flushes, and exits.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tracewatch.config import Settings
from tracewatch.daemon import Pipeline, exporter_from_settings
from tracewatch.kube.connection import ApiConnection
from tracewatch.sim import SimCluster, SimOptions
from tracewatch.sim.scenarios import SCENARIOS, run_scenario

DEMO_TIMEOUT_S = 50.0
DEFAULT_SCENARIO = "startup"


def scenario_names() -> list[str]:
    return sorted(SCENARIOS)


async def run_demo(
    *,
    settings: Settings,
    scenario: str = DEFAULT_SCENARIO,
    pods: int = 3,
    seed: int | None = None,
) -> int:
    """Run one scenario end to end; 0 when every lifecycle it caused was exported, else 1."""
    try:
        exporter = exporter_from_settings(settings)
    except (ValueError, OSError) as exc:
        print(f"tracewatch demo: error: {exc}", file=sys.stderr)
        return 2
    params = {"pods": pods} if scenario == "startup" else {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEMO_TIMEOUT_S
    complete = False
    with tempfile.TemporaryDirectory(prefix="tracewatch-demo-") as tmp:
        async with SimCluster(options=SimOptions(seed=seed)) as sim:
            kubeconfig = Path(tmp) / "kubeconfig"
            sim.write_kubeconfig(kubeconfig)
            _say(f"simulated cluster listening on {sim.url}")
            connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
            async with connection:
                pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter)
                stop = asyncio.Event()
                running = asyncio.create_task(pipeline.run(stop))
                try:
                    async with asyncio.timeout_at(deadline):
                        await pipeline.wait_ready()
                        _say(f"tracewatch is watching; running scenario {scenario!r}: "
                             f"{SCENARIOS[scenario].description}")
                        await run_scenario(sim, scenario, **params)
                        _say("scenario done; waiting for the last traces to settle")
                        await _until_settled(pipeline)
                    complete = True
                except TimeoutError:
                    complete = False
                finally:
                    stop.set()
                    await running
    _say(
        f"{pipeline.traces_emitted} trace(s), {pipeline.spans_exported} span(s) exported"
        + ("" if complete else f"; gave up after {DEMO_TIMEOUT_S:.0f}s")
    )
    return 0 if complete else 1


async def _until_settled(pipeline: Pipeline) -> None:
    """Wait until the engine holds no lifecycle and has emitted at least one trace."""
    while pipeline.engine.tracked or not pipeline.traces_emitted:
        await asyncio.sleep(0.1)


def _say(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)
