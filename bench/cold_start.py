"""Cold start: the daemon's Pipeline against N existing pods, until /readyz would say ready.

`listserver.py` (another process) serves N Running pods and N/10 ReplicaSets
(empty Lists of the other watched resources). This process builds the real
`Pipeline` (every default resource's informer over a real `ApiConnection`, the
engine task, sampling, the export queue) with a null exporter, starts it, and
polls `Pipeline.ready` (what `/readyz` answers) every 5 ms. Reported: seconds
to ready, seconds until the engine has also folded every listed object in
(the observation queue empty), and the process's peak RSS (VmHWM) over it all.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import common  # noqa: F401  (sets the import path)
from common import Helper, peak_rss_bytes, rss_bytes, script_main, write_kubeconfig

from tracewatch.config import Settings
from tracewatch.core.spans import SpanRecord
from tracewatch.daemon import Pipeline
from tracewatch.export.base import ExportResult
from tracewatch.kube.connection import ApiConnection

FULL_PODS = 100_000
SMALL_PODS = 2_000


class NullExporter:
    """Accepts every batch and forgets it."""

    def __init__(self) -> None:
        self.spans = 0

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        self.spans += len(spans)
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        pass


async def _cold_start(url: str, pods: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", server=url)
        connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
    settings = Settings(exporter="console", ops_address="", log_level="warning")
    exporter = NullExporter()
    rss_start = rss_bytes()
    async with connection:
        pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter)
        stop = asyncio.Event()
        started = time.perf_counter()
        running = asyncio.create_task(pipeline.run(stop))
        while not pipeline.ready:
            await asyncio.sleep(0.005)
        ready_s = time.perf_counter() - started
        while not pipeline.observations.empty():
            await asyncio.sleep(0.005)
        caught_up_s = time.perf_counter() - started
        stop.set()
        await running
    return {
        "cold_start.pods": pods,
        "cold_start.ready_s": ready_s,
        "cold_start.caught_up_s": caught_up_s,
        "cold_start.peak_rss_bytes": peak_rss_bytes(),
        "cold_start.rss_at_start_bytes": rss_start,
        "cold_start.informers": len(pipeline.informers),
    }


def run(small: bool) -> dict[str, Any]:
    pods = SMALL_PODS if small else FULL_PODS
    with Helper("listserver.py", "--pods", str(pods)) as server:
        return asyncio.run(_cold_start(server.url, pods))


if __name__ == "__main__":
    raise SystemExit(script_main("cold_start", run))
