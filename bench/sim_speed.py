"""The simulator alone under pod churn: can it sustain a startup rate on one core?

    python bench/sim_speed.py [--small] [--rate R] [--duration S] [--nodes N]
                              [--profile PATH] [--gc-tune] [--repeat K] [--json PATH]

Runs a SimCluster (no tracewatch, no watchers) with the `churn` scenario: `rate`
pod startups/s for `duration` s, each pod deleted once Ready. Reports the achieved
startup rate (from the pods' true creation instants), CPU seconds per pod lifecycle
(`time.process_time`, which is this one process: asyncio runs on one core), the CPU
share of the wall time, and created -> Ready latency. The target counts as sustained
when the startups kept to schedule, CPU stayed below one core, and pods still became
Ready about as fast as the simulated latencies say (a simulator that falls behind
shows it as growing latency first).

CPU time per pod swings by 15% or more from run to run on a shared machine; with
`--repeat K` the churn runs K times, each in a fresh process, and the verdict is
taken on the median run (by CPU per pod), with how many of the K were sustained.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (sets the import path)

from tracewatch.gctune import tune_gc
from tracewatch.sim import SimCluster, SimOptions
from tracewatch.sim.scenarios import run_scenario

NS = 1e9
# Created -> Ready with the default latencies is ~1-3 s; well past that means falling behind.
LATENCY_BOUND_S = 5.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def churn(
    *, rate: float, duration: float, nodes: int, namespaces: int = 5,
    profile: Path | None = None, gc_tune: bool = False,
) -> dict[str, Any]:
    """One churn run; the figures as a dict (keys prefixed `sim_speed.`)."""
    gc_cpu = [0.0, 0.0]  # CPU in collections, start of the current one

    def gc_timer(phase: str, _: dict[str, int]) -> None:
        if phase == "start":
            gc_cpu[1] = time.process_time()
        else:
            gc_cpu[0] += time.process_time() - gc_cpu[1]

    # The default watch history (10,000 writes per resource), as `tracewatch sim` runs: a
    # history that kept every write would grow without bound, which no sustained rate can.
    async with SimCluster(SimOptions(seed=1, nodes=nodes)) as sim:
        profiler = cProfile.Profile() if profile else None
        if gc_tune:
            # What a standalone simulator process does (`tracewatch sim`): freeze what
            # start-up allocated, collect the young generation less often.
            tune_gc()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        gc.callbacks.append(gc_timer)
        result = await run_scenario(sim, "churn", rate=rate, duration=duration,
                                    namespaces=namespaces, timeout=max(60.0, 4 * duration))
        gc.callbacks.remove(gc_timer)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        created, ready_lag = [], []
        for uid in result.uids("pods"):
            times = sim.truth.times(uid)
            created.append(times["created"])
            ready_lag.append((times["ready"] - times["created"]) / NS)
    pods = len(created)
    span = (max(created) - min(created)) / NS if pods > 1 else 0.0
    achieved = (pods - 1) / span if span > 0 else 0.0
    cpu_per_pod = cpu / pods if pods else 0.0
    p99 = _percentile(ready_lag, 99)
    sustained = (achieved >= 0.97 * rate and cpu_per_pod * rate < 1.0 and p99 <= LATENCY_BOUND_S)
    return {
        "sim_speed.target_per_s": rate,
        "sim_speed.duration_s": duration,
        "sim_speed.nodes": nodes,
        "sim_speed.gc_tuned": gc_tune,
        "sim_speed.pods": pods,
        "sim_speed.achieved_per_s": achieved,
        "sim_speed.cpu_s": cpu,
        "sim_speed.wall_s": wall,
        "sim_speed.cpu_ms_per_pod": cpu_per_pod * 1e3,
        "sim_speed.cpu_share": cpu / wall if wall else 0.0,
        "sim_speed.gc_share": gc_cpu[0] / cpu if cpu else 0.0,
        "sim_speed.max_rate_per_core": 1 / cpu_per_pod if cpu_per_pod else 0.0,
        "sim_speed.ready_p50_s": _percentile(ready_lag, 50),
        "sim_speed.ready_p99_s": p99,
        "sim_speed.sustained": sustained,
    }


def run(*, small: bool, rate: float | None = None, duration: float | None = None,
        nodes: int | None = None, profile: Path | None = None,
        gc_tune: bool = False) -> dict[str, Any]:
    """Run at the given (or default) settings, print one line, return the figures."""
    results = asyncio.run(churn(
        rate=rate or (100.0 if small else 500.0),
        duration=duration or (2.0 if small else 10.0),
        nodes=nodes or (3 if small else 50),
        profile=profile,
        gc_tune=gc_tune,
    ))
    r = {k.split(".", 1)[1]: v for k, v in results.items()}
    print(
        f"sim churn{' (gc tuned)' if r['gc_tuned'] else ''}: "
        f"target {r['target_per_s']:.0f}/s on {r['nodes']} nodes, "
        f"achieved {r['achieved_per_s']:.0f}/s over {r['pods']} pods; "
        f"{r['cpu_ms_per_pod']:.2f} ms CPU/pod (~{r['max_rate_per_core']:.0f}/s per core), "
        f"CPU {100 * r['cpu_share']:.0f}% of wall (GC {100 * r['gc_share']:.0f}% of CPU); "
        f"ready p50 {r['ready_p50_s']:.2f} s p99 {r['ready_p99_s']:.2f} s; "
        f"sustained: {'yes' if r['sustained'] else 'NO'}",
        flush=True,
    )
    return results


def repeated(argv: list[str], times: int) -> dict[str, Any]:
    """Run this script `times` times in fresh processes (same `argv`); the median run's figures.

    The result is that run's `sim_speed.*` keys plus `sim_speed.runs` (how many),
    `sim_speed.sustained_runs` (how many were sustained) and
    `sim_speed.cpu_ms_per_pod_runs` (each run's CPU per pod, in run order).
    """
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for i in range(times):
            out = Path(scratch) / f"run{i}.json"
            subprocess.run([sys.executable, __file__, *argv, "--json", str(out)], check=True)
            runs.append(json.loads(out.read_text()))
    per_pod = [r["sim_speed.cpu_ms_per_pod"] for r in runs]
    median_run = sorted(runs, key=lambda r: r["sim_speed.cpu_ms_per_pod"])[(times - 1) // 2]
    sustained = sum(bool(r["sim_speed.sustained"]) for r in runs)
    print(
        f"{times} runs: CPU/pod median {statistics.median(per_pod):.2f} ms "
        f"(min {min(per_pod):.2f}, max {max(per_pod):.2f}); sustained in {sustained} of {times}; "
        f"median run sustained: {'yes' if median_run['sim_speed.sustained'] else 'NO'}",
        flush=True,
    )
    return {
        **median_run,
        "sim_speed.runs": times,
        "sim_speed.sustained_runs": sustained,
        "sim_speed.cpu_ms_per_pod_runs": per_pod,
    }


def _one_run_argv(args: argparse.Namespace) -> list[str]:
    """The command line for one run of the settings in `args`."""
    argv = ["--small"] if args.small else []
    for flag, value in (("--rate", args.rate), ("--duration", args.duration),
                        ("--nodes", args.nodes)):
        if value is not None:
            argv += [flag, str(value)]
    return argv + (["--gc-tune"] if args.gc_tune else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/sim_speed.py")
    parser.add_argument("--small", action="store_true", help="a few seconds, for CI")
    parser.add_argument("--rate", type=float, help="pod startups/s (default 500; small 100)")
    parser.add_argument("--duration", type=float, help="seconds of churn (default 10; small 2)")
    parser.add_argument("--nodes", type=int, help="nodes (default 50; small 3)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the run here")
    parser.add_argument("--gc-tune", action="store_true",
                        help="tune the collector as `tracewatch sim` does (gctune.tune_gc)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="run K times, each in a fresh process; report the median run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.repeat > 1:
        if args.profile:
            parser.error("--profile profiles one run: leave out --repeat")
        results = repeated(_one_run_argv(args), args.repeat)
    else:
        results = run(small=args.small, rate=args.rate, duration=args.duration,
                      nodes=args.nodes, profile=args.profile, gc_tune=args.gc_tune)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
