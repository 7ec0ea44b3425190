"""Run a simulator scenario under the real pipeline and collect the spans it produced."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracewatch.config import load
from tracewatch.core.spans import SpanRecord
from tracewatch.daemon import Pipeline
from tracewatch.export.memory import InMemoryExporter
from tracewatch.kube.connection import ApiConnection
from tracewatch.sim import SimCluster, SimOptions
from tracewatch.sim.scenarios import ScenarioResult, run_scenario

MS = 1_000_000


@dataclass
class Traced:
    spans: list[SpanRecord]
    truth: dict[str, dict[str, int]]
    result: ScenarioResult

    def named(self, name: str, **attributes: Any) -> list[SpanRecord]:
        return [
            s
            for s in self.spans
            if s.name == name and all(s.attribute(k) == v for k, v in attributes.items())
        ]

    def children(self, parent: SpanRecord) -> list[SpanRecord]:
        return [s for s in self.spans if s.parent_span_id == parent.span_id]


async def wait_watching(sim: SimCluster, pipeline: Pipeline) -> None:
    """Until every informer's watch is open on the simulator.

    Ready means listed (as client-go's HasSynced); the watches open a moment
    later. An object written in between is seen only when its watch replays it,
    late by the connection set-up, which tests comparing times with the truth
    must not mistake for the pipeline's own error.
    """
    resources = {informer.resource.name for informer in pipeline.informers}
    while not all(sim.store.subscribers(resource) for resource in resources):
        await asyncio.sleep(0.01)


async def run_traced(
    tmp_path: Path,
    scenario: str,
    *,
    seed: int = 5,
    settle: str = "300ms",
    timeout: float = 60.0,
    **params: Any,
) -> Traced:
    """The scenario, watched over HTTP by a Pipeline exporting to memory, until it all settled."""
    exporter = InMemoryExporter()
    async with SimCluster(options=SimOptions(seed=seed)) as sim:
        kubeconfig = tmp_path / "kubeconfig"
        sim.write_kubeconfig(kubeconfig)
        settings = load(
            flags={"exporter": "console", "settle_delay": settle, "ops_address": ""}, environ={}
        )
        async with await ApiConnection.from_kubeconfig(config_file=kubeconfig) as connection:
            pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter)
            stop = asyncio.Event()
            running = asyncio.create_task(pipeline.run(stop))
            try:
                async with asyncio.timeout(timeout):
                    await pipeline.wait_ready()
                    await wait_watching(sim, pipeline)
                    result = await run_scenario(sim, scenario, **params)
                    while pipeline.engine.tracked:
                        await asyncio.sleep(0.05)
            finally:
                stop.set()
                await running
        truth = {uid: sim.truth.times(uid) for uid in sim.truth.uids()}
    return Traced(spans=list(exporter.spans), truth=truth, result=result)


def close(actual_ns: int, expected_ns: int, tolerance_ns: int = 50 * MS) -> bool:
    return abs(actual_ns - expected_ns) <= tolerance_ns
