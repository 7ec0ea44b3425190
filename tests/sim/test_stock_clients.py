"""Stock clients against the simulator, through the kubeconfig it writes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client, config, watch

from tests.sim.conftest import MakeSim
from tracewatch.sim import SimCluster, pod_manifest


async def test_kubeconfig_is_private_and_names_the_context(sim: SimCluster, tmp_path: Path) -> None:
    """The kubeconfig holds the server, the chosen token and context tracewatch-sim, mode 0600."""
    path = sim.write_kubeconfig(tmp_path / "kube" / "config", token=sim.readonly_token)
    doc = yaml.safe_load(path.read_text())
    assert doc["current-context"] == "tracewatch-sim"
    assert doc["clusters"][0]["cluster"]["server"] == sim.url
    assert doc["users"][0]["user"]["token"] == sim.readonly_token
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_kubernetes_asyncio_lists_and_watches_pods(
    make_sim: MakeSim, tmp_path: Path, tls: bool
) -> None:
    """CoreV1Api decodes the sim's lists and watch events into its models without complaint."""
    sim = await make_sim(tls=tls)
    kubeconfig = sim.write_kubeconfig(tmp_path / "config")
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    pod = await sim.create("pods", pod_manifest("web-1"))
    await sim.truth.wait_for(pod["metadata"]["uid"], "ready", timeout=5)
    async with client.ApiClient(configuration) as api_client:
        v1 = client.CoreV1Api(api_client)
        pods = await v1.list_pod_for_all_namespaces()
        assert [p.metadata.name for p in pods.items] == ["web-1"]
        listed = pods.items[0]
        assert listed.status.phase == "Running"
        assert {c.type: c.status for c in listed.status.conditions}["Ready"] == "True"
        assert listed.status.container_statuses[0].state.running.started_at is not None
        events = await v1.list_namespaced_event("default")
        assert {"Scheduled", "Pulled", "Started"} <= {e.reason for e in events.items}
        nodes = await v1.list_node()
        assert len(nodes.items) == 3

        rv = pods.metadata.resource_version
        seen = []
        stream = watch.Watch().stream(
            v1.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=2
        )
        async with stream:
            await sim.create("pods", pod_manifest("web-2"))
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
                if event["object"].status.phase == "Running":
                    break
        assert seen[0] == ("ADDED", "web-2")
        assert ("MODIFIED", "web-2") in seen


async def test_kubectl_gets_pods_across_namespaces(make_sim: MakeSim, tmp_path: Path) -> None:
    """The real kubectl binary reads pods and nodes from the simulator over verified TLS."""
    sim = await make_sim(tls=True)
    assert sim.url.startswith("https://")
    kubeconfig = sim.write_kubeconfig(tmp_path / "config")
    pod = await sim.create("pods", pod_manifest("web-1"))
    await sim.truth.wait_for(pod["metadata"]["uid"], "ready", timeout=5)

    async def kubectl(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode == 0, err.decode()
        return out.decode()

    listed = json.loads(await kubectl("get", "pods", "-A", "-o", "json"))
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [
        ("default", "web-1")
    ]
    assert listed["items"][0]["status"]["phase"] == "Running"
    nodes = (await kubectl("get", "nodes", "-o", "name")).split()
    assert nodes == ["node/node-1", "node/node-2", "node/node-3"]
