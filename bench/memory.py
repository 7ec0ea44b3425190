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
It runs twice, each in a fresh process: with the informer as it is, and with
`CompactKnownObjects` below (the proposed change to `tracewatch.kube.relisting`),
so the difference is KnownObjects' share.
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
from tracewatch.core.snapshots import ObjectMeta, Pod, PodSpec, Snapshot
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer

FULL_PODS = 100_000
SMALL_PODS = 2_000


class CompactKnownObjects:
    """Proposed KnownObjects: uid -> a stand-in snapshot holding only what a relist diff and
    a RELISTED_GONE observation need (name, namespace, uid, resourceVersion, and for pods
    the node and the deletion fields); a pod being deleted keeps its whole last snapshot
    (its container statuses time the kubelet.KillPod span). Same interface as KnownObjects."""

    __slots__ = ("_by_uid",)

    def __init__(self) -> None:
        self._by_uid: dict[str, Snapshot] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def __contains__(self, uid: object) -> bool:
        return uid in self._by_uid

    def get(self, uid: str) -> Snapshot | None:
        return self._by_uid.get(uid)

    def resource_version(self, uid: str) -> str | None:
        snapshot = self._by_uid.get(uid)
        return None if snapshot is None else snapshot.metadata.resource_version

    def remember(self, snapshot: Snapshot) -> None:
        self._by_uid[snapshot.metadata.uid] = stand_in(snapshot)

    def forget(self, uid: str) -> None:
        self._by_uid.pop(uid, None)

    def uids(self) -> Any:
        return iter(self._by_uid)


def stand_in(snapshot: Snapshot) -> Snapshot:
    """The smallest snapshot of the same type a relist diff and a deletion can work with."""
    meta = snapshot.metadata
    if meta.deletion_timestamp:
        return snapshot
    small_meta = type(meta)(name=meta.name, namespace=sys.intern(meta.namespace), uid=meta.uid,
                            resource_version=meta.resource_version)
    if isinstance(snapshot, Pod):
        node = snapshot.spec.node_name
        return Pod(metadata=small_meta, spec=PodSpec(node_name=sys.intern(node)))
    if type(meta) is ObjectMeta or hasattr(snapshot, "metadata"):
        return type(snapshot)(metadata=small_meta)  # type: ignore[call-arg]
    return snapshot


async def _hold(*, url: str, pods: int, compact: bool, settle_s: float) -> dict[str, Any]:
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
        if compact:
            for informer in informers:
                informer._known = CompactKnownObjects()  # type: ignore[assignment]
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


def child(variant: str, pods: int, small: bool) -> dict[str, Any]:
    with Helper("listserver.py", "--pods", str(pods)) as server:
        return asyncio.run(_hold(url=server.url, pods=pods, compact=variant == "compact",
                                 settle_s=0.5 if small else 3.0))


def run(small: bool) -> dict[str, Any]:
    pods = SMALL_PODS if small else FULL_PODS
    results: dict[str, Any] = {}
    for variant in ("current", "compact"):
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([sys.executable, str(REPO / "bench" / "memory.py"), "--child",
                            variant, "--pods", str(pods), "--out", out.name]
                           + (["--small"] if small else []), check=True)
            measured = json.loads(Path(out.name).read_text())
        prefix = "memory." if variant == "current" else "memory.compact_known."
        results.update({prefix + k: v for k, v in measured.items()})
    return results


if __name__ == "__main__":
    if "--child" in sys.argv:
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--child", choices=("current", "compact"))
        parser.add_argument("--pods", type=int)
        parser.add_argument("--out")
        parser.add_argument("--small", action="store_true")
        args = parser.parse_args()
        Path(args.out).write_text(json.dumps(child(args.child, args.pods, args.small)))
        raise SystemExit(0)
    from common import script_main

    raise SystemExit(script_main("memory", run))
