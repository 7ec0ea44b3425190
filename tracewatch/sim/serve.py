"""`tracewatch sim`: serve a simulated cluster until interrupted, for kubectl or tracewatch.

Scenarios come from `tracewatch.sim.scenarios` (its `SCENARIOS` names, run with
`run_scenario(sim, name)` as a task while serving, default parameters); `empty`
(no workload: the built-in namespaces and nodes) is always there. The server
keeps serving after a scenario finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import signal
import sys
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TextIO

from tracewatch.gctune import tune_gc
from tracewatch.sim.cluster import SimCluster
from tracewatch.sim.options import SimOptions

Scenario = Callable[[SimCluster], Coroutine[Any, Any, Any]]
EMPTY = "empty"


def scenarios() -> Mapping[str, Scenario | None]:
    """Every scenario `serve` knows, by name (`empty` maps to None: nothing to run)."""
    known: dict[str, Scenario | None] = {EMPTY: None}
    try:
        module = importlib.import_module("tracewatch.sim.scenarios")
    except ModuleNotFoundError as err:
        if err.name != "tracewatch.sim.scenarios":
            raise
        return known
    run = getattr(module, "run_scenario", None)
    for name in getattr(module, "SCENARIOS", {}):
        if run is not None:
            known[name] = functools.partial(run, name=name)
    return known


def _banner(sim: SimCluster, *, kubeconfig: Path, scenario: str) -> str:
    return (
        f"tracewatch sim: API server listening on {sim.url} (scenario: {scenario})\n"
        f"  kubeconfig (read-write token): {kubeconfig}\n"
        f"  try:   KUBECONFIG={kubeconfig} kubectl get pods -A -w\n"
        f"  trace: tracewatch run --kubeconfig {kubeconfig} --exporter console\n"
        "  stop with Ctrl-C (SIGINT) or SIGTERM\n"
    )


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    kubeconfig_out: str | Path,
    tls: bool = True,
    scenario: str | None = None,
    options: SimOptions | None = None,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    standalone: bool = False,
) -> int:
    """Serve until SIGINT/SIGTERM (or `stop` is set); returns the exit code.

    `standalone` (the `tracewatch sim` process, which runs nothing else) tunes the
    garbage collector once the cluster is up (see `gctune`).

    Writes a kubeconfig for the cluster to `kubeconfig_out` (mode 0600) and
    prints where the server listens. 2 for an unknown scenario (nothing
    started), 1 if the port cannot be bound or the scenario fails, else 0.
    """
    out = out or sys.stdout
    name = scenario or EMPTY
    known = scenarios()
    if name not in known:
        print(
            f"tracewatch sim: error: unknown scenario {name!r} (known: {', '.join(sorted(known))})",
            file=sys.stderr,
        )
        return 2
    sim = SimCluster(dataclasses.replace(options or SimOptions(), tls=tls))
    try:
        await sim.start(host=host, port=port)
    except OSError as err:
        print(f"tracewatch sim: error: cannot listen on {host}:{port}: {err}", file=sys.stderr)
        return 1
    if standalone:
        tune_gc()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    runner: asyncio.Task[Any] | None = None
    try:
        kubeconfig = sim.write_kubeconfig(kubeconfig_out)
        print(_banner(sim, kubeconfig=kubeconfig, scenario=name), file=out, flush=True)
        driver = known[name]
        if driver is not None:
            runner = asyncio.create_task(driver(sim), name=f"scenario {name}")
        await stop.wait()
        if runner is not None and runner.done() and runner.exception() is not None:
            print(f"tracewatch sim: scenario {name} failed: {runner.exception()}", file=sys.stderr)
            return 1
        return 0
    finally:
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
        for sig in handled:
            loop.remove_signal_handler(sig)
        await sim.stop()
        print("tracewatch sim: stopped", file=out, flush=True)
