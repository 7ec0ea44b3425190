"""`tracewatch demo`: the real pipeline, over HTTP, against an in-process simulated cluster.

Starts the simulator on 127.0.0.1 (a random port), writes a kubeconfig for it,
runs `Pipeline` exactly as `tracewatch run` does, creates a few pods (one
image already cached on every node, the others pulled), waits until each
startup trace has been emitted, flushes, and exits.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from tracewatch.config import Settings
from tracewatch.daemon import Pipeline, exporter_from_settings
from tracewatch.kube.connection import ApiConnection
from tracewatch.sim import SimCluster, SimOptions, pod_manifest

DEMO_TIMEOUT_S = 45.0
IMAGES = ("nginx:1.27", "redis:7.4", "ghcr.io/example/api:2.3.1", "busybox:1.36")
CACHED_IMAGE = "busybox:1.36"


async def run_demo(*, settings: Settings, pods: int = 3, seed: int | None = None) -> int:
    """Run the demo scenario; 0 when every pod's trace was printed/exported, 1 otherwise."""
    try:
        exporter = exporter_from_settings(settings)
    except (ValueError, OSError) as exc:
        print(f"tracewatch demo: error: {exc}", file=sys.stderr)
        return 2
    options = SimOptions(seed=seed, preloaded_images=(CACHED_IMAGE,))
    with tempfile.TemporaryDirectory(prefix="tracewatch-demo-") as tmp:
        async with SimCluster(options=options) as sim:
            kubeconfig = Path(tmp) / "kubeconfig"
            sim.write_kubeconfig(kubeconfig)
            _say(f"simulated cluster listening on {sim.url}")
            connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
            async with connection:
                pipeline = Pipeline(settings=settings, connection=connection, exporter=exporter)
                stop = asyncio.Event()
                running = asyncio.create_task(pipeline.run(stop))
                try:
                    await asyncio.wait_for(_until_ready(pipeline), DEMO_TIMEOUT_S)
                    _say(f"tracewatch is watching; creating {pods} pod(s)")
                    for i in range(pods):
                        image = IMAGES[i % len(IMAGES)]
                        await sim.create(
                            "pods",
                            pod_manifest(f"demo-{i + 1}", image=image),
                            namespace="default",
                        )
                    await asyncio.wait_for(pipeline.wait_for_traces(pods), DEMO_TIMEOUT_S)
                    complete = True
                except TimeoutError:
                    complete = False
                finally:
                    stop.set()
                    await running
    _say(
        f"{pipeline.traces_emitted} trace(s), {pipeline.spans_exported} span(s) exported"
        + ("" if complete else f"; timed out after {DEMO_TIMEOUT_S:.0f}s waiting for {pods}")
    )
    return 0 if complete else 1


async def _until_ready(pipeline: Pipeline) -> None:
    while not pipeline.ready:
        await asyncio.sleep(0.05)


def _say(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)
