"""Memory: N Running pods (and their ReplicaSets) held in steady state by informers + engine.

Setup: `listserver.py` (another process) serves N pods of ~6.8 KB and N/10
ReplicaSets over HTTP. This process runs the real watch layer, the real
`Informer` for pods and for replicasets over a real `ApiConnection` (paged
List, then a quiet watch), each delivering straight into one `Engine`
(`Engine.observe`, the spans it emits dropped). The pods were created long
ago, so their startups end before the back-fill window: what stays is
exactly the idle state, per pod: the informer's KnownObjects entry and the
engine's record that the lifecycle was emitted.

Measured: RSS before the first List (after imports and the connection), the
peak RSS while listing (VmHWM), RSS in steady state after a full collection;
growth / N is the cost per idle pod (its share of a ReplicaSet included).
It runs in a fresh process so RSS is its alone.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common  # noqa: F401  (sets the import path)
from common import (
    REPO,
    Helper,
    peak_rss_bytes,
    reset_peak_rss,
    settled_rss_bytes,
    write_kubeconfig,
)

from tracewatch.core.engine import Engine
from tracewatch.core.observations import Observation
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer

FULL_PODS = 100_000
SMALL_PODS = 2_000


async def _hold(*, url: str, pods: int, settle_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", server=url)
        connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
    engine = Engine()
    emitted = 0

    def sink(observation: Observation) -> None:
        nonlocal emitted
        emitted += len(engine.observe(observation))

    async with connection:
        informers = [Informer(connection=connection, resource=name, sink=sink)
                     for name in ("pods", "replicasets")]
        before = settled_rss_bytes()
        reset_peak_rss()
        started = time.perf_counter()
        tasks = [asyncio.create_task(i.run()) for i in informers]
        while not all(i.has_synced for i in informers):
            await asyncio.sleep(0.01)
        listed_s = time.perf_counter() - started
        peak = peak_rss_bytes()
        # Steady state: watches open and quiet; engine time moves past the settle delay
        # (the daemon's ticker would do this), so finished startups leave the engine.
        await asyncio.sleep(settle_s)
        later = time.time_ns() + engine.options.settle_delay_ns + 1_000_000_000
        emitted += len(engine.advance(later))
        after = settled_rss_bytes()
        known = sum(i.known_objects for i in informers)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "pods": pods, "known_objects": known, "list_s": listed_s,
        "rss_before_bytes": before, "rss_after_bytes": after, "peak_rss_bytes": peak,
        "bytes_per_idle_pod": (after - before) / pods, "spans_emitted": emitted,
        "lifecycles_in_progress": engine.tracked,
    }


def child(pods: int, small: bool) -> dict[str, Any]:
    with Helper("listserver.py", "--pods", str(pods)) as server:
        return asyncio.run(_hold(url=server.url, pods=pods, settle_s=0.5 if small else 3.0))


def run(small: bool) -> dict[str, Any]:
    pods = SMALL_PODS if small else FULL_PODS
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, str(REPO / "bench" / "memory.py"), "--child",
                        "--pods", str(pods), "--out", out.name]
                       + (["--small"] if small else []), check=True)
        measured = json.loads(Path(out.name).read_text())
    return {"memory." + k: v for k, v in measured.items()}


if __name__ == "__main__":
    if "--child" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--child", action="store_true")
        parser.add_argument("--pods", type=int)
        parser.add_argument("--out")
        parser.add_argument("--small", action="store_true")
        args = parser.parse_args()
        Path(args.out).write_text(json.dumps(child(args.pods, args.small)))
        raise SystemExit(0)
    from common import script_main

    raise SystemExit(script_main("memory", run))
