"""Lag: live against the simulated cluster, from a pod's true Ready to its trace at the exporter.

The simulator runs in its own process (`sim_churn.py`: on this 2-core machine
it gets a core of its own) and drives `churn`: pod startups at a fixed rate
for a duration, each pod deleted once Ready. This process runs the daemon's
real `Pipeline` (every default informer over HTTP, the engine, sampling, the
export queue; default settle delay 2 s) with a recording exporter that notes
when each `k8s.CreatePod` root arrives (wall clock, the clock the simulator's
ground truth uses). Lag = arrival - the simulator's true `ready` instant, split
into delivery (true Ready -> our watch received it: the simulator's share) and
pipeline (received -> exporter: ours, settle delay included).
The export queue depth and the observation queue length are sampled every
0.25 s throughout.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # noqa: F401  (sets the import path)
from common import Helper, percentile, script_main

from tracewatch.config import Settings
from tracewatch.core.observations import Observation
from tracewatch.core.snapshots import Pod
from tracewatch.core.spans import SpanRecord
from tracewatch.daemon import Pipeline
from tracewatch.export.base import ExportResult
from tracewatch.kube.connection import ApiConnection

FULL = {"rate": 300, "duration": 60, "namespaces": 50}
SMALL = {"rate": 50, "duration": 3, "namespaces": 5}
SAMPLE_EVERY_S = 0.25


class RecordingExporter:
    """Notes the arrival time of every pod-startup root span; keeps nothing else."""

    def __init__(self) -> None:
        self.arrivals: dict[str, int] = {}
        self.spans = 0

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        now = time.time_ns()
        self.spans += len(spans)
        for span in spans:
            if span.name == "k8s.CreatePod":
                uid = span.attribute("k8s.pod.uid")
                if isinstance(uid, str):
                    self.arrivals.setdefault(uid, now)
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        pass


async def _measure(sim: Helper, load: dict[str, int]) -> dict[str, Any]:
    connection = await ApiConnection.from_kubeconfig(config_file=sim.url)
    settings = Settings(exporter="console", ops_address="")
    exporter = RecordingExporter()
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, int, int]] = []
    async with connection:
        pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter)
        received = _note_ready_receipts(pipeline)
        stop = asyncio.Event()
        running = asyncio.create_task(pipeline.run(stop))
        while not pipeline.ready:
            await asyncio.sleep(0.01)
        began = time.perf_counter()
        sim.send(f"go {load['rate']} {load['duration']} {load['namespaces']}")
        done = loop.run_in_executor(None, sim.readline)
        truth: dict[str, Any] = {}
        deadline = None
        while deadline is None or time.perf_counter() < deadline:
            samples.append((round(time.perf_counter() - began, 2), pipeline.queue.depth,
                            pipeline.observations.qsize()))
            await asyncio.sleep(SAMPLE_EVERY_S)
            if deadline is None and done.done():
                _, truth_path, pods, took = done.result().split()
                truth = json.loads(Path(truth_path).read_text())
                # The simulator's watch streams may trail its ground truth: wait (bounded)
                # until every pod's trace has arrived.
                deadline = time.perf_counter() + settings.settle_delay + 120.0
            if deadline is not None and all(uid in exporter.arrivals for uid in truth):
                deadline = min(deadline, time.perf_counter() + SAMPLE_EVERY_S)
        stop.set()
        await running
        restarts: dict[str, int] = {}
        for informer in pipeline.informers:
            for reason, count in informer.stats.restarts.items():
                restarts[reason] = restarts.get(reason, 0) + count
        relists = sum(i.stats.relists for i in pipeline.informers)
    lags = [(exporter.arrivals[uid] - t["ready"]) / 1e9 for uid, t in truth.items()
            if t.get("ready") and uid in exporter.arrivals]
    # Split the lag: the simulator delivering Ready to our watch, then our pipeline.
    delivery = [(received[uid] - t["ready"]) / 1e9 for uid, t in truth.items()
                if t.get("ready") and uid in received]
    inside = [(exporter.arrivals[uid] - received[uid]) / 1e9 for uid in received
              if uid in exporter.arrivals]
    depths = [d for _, d, _ in samples]
    pending = [p for _, _, p in samples]
    return {
        "lag.rate_per_s": load["rate"],
        "lag.duration_s": load["duration"],
        "lag.pods": int(pods),
        "lag.sim_scenario_s": float(took),
        "lag.traced_pods": len(lags),
        "lag.p50_s": percentile(lags, 50),
        "lag.p99_s": percentile(lags, 99),
        "lag.max_s": max(lags, default=0.0),
        "lag.settle_delay_s": settings.settle_delay,
        "lag.delivery_p50_s": percentile(delivery, 50),
        "lag.delivery_p99_s": percentile(delivery, 99),
        "lag.pipeline_p50_s": percentile(inside, 50),
        "lag.pipeline_p99_s": percentile(inside, 99),
        "lag.queue_depth_max": max(depths, default=0),
        "lag.queue_depth_mean": sum(depths) / max(1, len(depths)),
        "lag.observation_queue_max": max(pending, default=0),
        "lag.queue_depth_series": samples,
        "lag.watch_restarts": restarts,
        "lag.relists": relists,
        "lag.engine_counters": dict(pipeline.engine.counters),
    }


def _note_ready_receipts(pipeline: Pipeline) -> dict[str, int]:
    """Wrap the engine's observe to note when each pod was first received Ready."""
    received: dict[str, int] = {}
    observe = pipeline.engine.observe

    def noting(observation: Observation) -> list[SpanRecord]:
        obj = observation.obj
        if isinstance(obj, Pod) and obj.metadata.uid not in received and any(
            c.type == "Ready" and c.status == "True" for c in obj.status.conditions
        ):
            received[obj.metadata.uid] = observation.observed_at_ns
        return observe(observation)

    pipeline.engine.observe = noting  # type: ignore[method-assign,assignment]
    return received


def run(small: bool) -> dict[str, Any]:
    with Helper("sim_churn.py") as sim:
        return asyncio.run(_measure(sim, SMALL if small else FULL))


if __name__ == "__main__":
    raise SystemExit(script_main("lag", run))
