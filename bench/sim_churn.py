"""The simulated cluster in its own process, driving the `churn` scenario on request (lag bench).

Prints `READY <kubeconfig path>` once serving; on a stdin line
`go <rate> <duration_s> <namespaces>` runs `churn` (pod startups at `rate`/s,
each pod deleted once Ready), then writes the ground truth of every pod it
created (`{uid: {"created": ns, "ready": ns}}`) to a file and prints
`DONE <truth path> <pods> <seconds the scenario took>`. Exits when stdin closes.
A process of its own: on a 2-core machine the simulator and tracewatch each get a core.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: F401  (sets the import path)

from tracewatch.gctune import tune_gc
from tracewatch.sim import SimCluster, SimOptions
from tracewatch.sim.scenarios import run_scenario


async def main() -> None:
    loop = asyncio.get_running_loop()
    tmp = Path(tempfile.mkdtemp(prefix="tracewatch-bench-"))
    async with SimCluster(SimOptions(seed=1, nodes=50, history_size=200_000)) as sim:
        kubeconfig = sim.write_kubeconfig(tmp / "kubeconfig")
        tune_gc()  # as `tracewatch sim` does: a standalone simulator process
        print(f"READY {kubeconfig}", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            _, rate, duration, namespaces = line.split()
            began = time.perf_counter()
            result = await run_scenario(sim, "churn", rate=float(rate),
                                        duration=float(duration), namespaces=int(namespaces),
                                        timeout=max(60.0, 2 * float(duration)))
            took = time.perf_counter() - began
            truth = {}
            for uid in result.uids("pods"):
                times = sim.truth.times(uid)
                truth[uid] = {"created": times.get("created"), "ready": times.get("ready")}
            path = tmp / "truth.json"
            path.write_text(json.dumps(truth))
            print(f"DONE {path} {len(truth)} {took:.3f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
