"""End to end: simulated cluster -> tracewatch over HTTP -> a real OTLP gRPC receiver.

The simulator records when each transition truly happened; the reconstructed
phases must match that ground truth within 100 ms.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tracewatch.config import load
from tracewatch.daemon import Pipeline, exporter_from_settings
from tracewatch.kube.connection import ApiConnection
from tracewatch.sim import SimCluster, SimOptions, pod_manifest

from .receivers import GrpcReceiver, ReceivedSpan
from .scenario_harness import wait_watching

TOLERANCE_NS = 100_000_000
PODS = {"pulled-1": "nginx:1.27", "pulled-2": "redis:7.4", "cached-1": "busybox:1.36"}


async def _run_scenario(tmp_path: Path) -> tuple[list[ReceivedSpan], dict[str, dict[str, int]]]:
    """Three pods (two pulling their image, one cached) traced into a gRPC receiver."""
    async with (
        GrpcReceiver() as receiver,
        SimCluster(options=SimOptions(seed=11, preloaded_images=("busybox:1.36",))) as sim,
    ):
        kubeconfig = tmp_path / "kubeconfig"
        sim.write_kubeconfig(kubeconfig)
        settings = load(
            flags={
                "exporter": "otlp",
                "otlp_endpoint": receiver.endpoint,
                "settle_delay": "300ms",
                "cluster_name": "sim",
            },
            environ={},
        )
        connection = await ApiConnection.from_kubeconfig(config_file=kubeconfig)
        async with connection:
            pipeline = Pipeline(
                settings=settings, connection=connection, exporter=exporter_from_settings(settings)
            )
            stop = asyncio.Event()
            running = asyncio.create_task(pipeline.run(stop))
            async with asyncio.timeout(10):
                await pipeline.wait_ready()
                await wait_watching(sim, pipeline)
            uids = {}
            for name, image in PODS.items():
                created = await sim.create(
                    "pods", pod_manifest(name, image=image), namespace="default"
                )
                uids[name] = created["metadata"]["uid"]
            spans = await receiver.wait_for(
                lambda got: sum(1 for s in got if s.name == "k8s.CreatePod") >= len(PODS),
                timeout=30,
            )
            stop.set()
            await running
        truth = {name: sim.truth.times(uid) for name, uid in uids.items()}
    return spans, truth


def _tree(spans: list[ReceivedSpan], pod: str) -> dict[str, ReceivedSpan]:
    root = next(
        s for s in spans if s.name == "k8s.CreatePod" and s.attributes["k8s.pod.name"] == pod
    )
    mine = [s for s in spans if s.trace_id == root.trace_id]
    return {s.name: s for s in mine}


async def test_pod_startup_traces_match_ground_truth(tmp_path: Path) -> None:
    """Every phase of every pod startup lands in the receiver within 100 ms of the truth."""
    spans, truth = await _run_scenario(tmp_path)
    for pod, image in PODS.items():
        tree = _tree(spans, pod)
        t = truth[pod]
        cached = pod.startswith("cached")
        expected = {
            "k8s.CreatePod": (t["created"], t["ready"]),
            "scheduler.SchedulePod": (t["created"], t["scheduled"]),
            "kubelet.StartPod": (t["scheduled"], t["ready"]),
            "kubelet.CreateSandbox": (t["scheduled"], t["sandbox_ready"]),
            "kubelet.StartContainer": (
                t["image_present:main"] if cached else t["pulled:main"],
                t["container_started:main"],
            ),
            "kubelet.WaitReady": (t["container_started:main"], t["ready"]),
        }
        if not cached:
            expected["kubelet.PullImage"] = (t["pull_started:main"], t["pulled:main"])
        assert set(tree) == set(expected), pod
        for name, (start, end) in expected.items():
            span = tree[name]
            assert abs(span.start_ns - start) <= TOLERANCE_NS, (pod, name, "start")
            assert abs(span.end_ns - end) <= TOLERANCE_NS, (pod, name, "end")
        assert tree["kubelet.StartContainer"].attributes["tracewatch.image.cached"] is cached
        assert tree["kubelet.StartContainer"].attributes["container.image.name"] == image


async def test_trace_shape_services_and_resource(tmp_path: Path) -> None:
    """Parentage, service.name per component, k8s.* attributes and cluster name arrive intact."""
    spans, _ = await _run_scenario(tmp_path)
    tree = _tree(spans, "pulled-1")
    root = tree["k8s.CreatePod"]
    assert root.parent_span_id == ""
    assert root.service == "kubernetes"
    assert root.resource["k8s.cluster.name"] == "sim"
    assert root.attributes["tracewatch.outcome"] == "completed"
    assert root.attributes["k8s.namespace.name"] == "default"
    assert root.attributes["k8s.node.name"].startswith("node-")
    assert tree["scheduler.SchedulePod"].service == "kube-scheduler"
    assert tree["scheduler.SchedulePod"].parent_span_id == root.span_id
    assert tree["kubelet.StartPod"].parent_span_id == root.span_id
    for name in (
        "kubelet.CreateSandbox",
        "kubelet.PullImage",
        "kubelet.StartContainer",
        "kubelet.WaitReady",
    ):
        assert tree[name].service == "kubelet"
        assert tree[name].parent_span_id == tree["kubelet.StartPod"].span_id
    for span in tree.values():
        assert root.start_ns <= span.start_ns <= span.end_ns <= root.end_ns
