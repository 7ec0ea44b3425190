"""The real kubectl binary against the simulator, one verb at a time (over verified TLS)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.sim.conftest import MakeSim
from tracewatch.sim import SimCluster

DEPLOYMENT_YAML = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
"""


class Kubectl:
    """Runs kubectl with the simulator's kubeconfig and a private HOME (its discovery cache)."""

    def __init__(self, *, kubeconfig: Path, home: Path) -> None:
        self.kubeconfig = kubeconfig
        self.env = {**os.environ, "HOME": str(home)}

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            "kubectl",
            "--kubeconfig",
            str(self.kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
        )

    async def run(self, *args: str, ok: bool = True) -> tuple[int, str, str]:
        process = await self.start(*args)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        if ok:
            assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return process.returncode, out.decode(), err.decode()


@pytest.fixture
async def tls_sim(make_sim: MakeSim) -> SimCluster:
    return await make_sim(tls=True)


@pytest.fixture
def kubectl(tls_sim: SimCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig=tls_sim.write_kubeconfig(tmp_path / "config"), home=tmp_path)


async def test_create_from_yaml_without_disabling_validation(
    tls_sim: SimCluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    """`kubectl create -f` validates via the server (openapi/v3 advertises fieldValidation)."""
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(DEPLOYMENT_YAML)
    _, out, _ = await kubectl.run("create", "-f", str(manifest))
    assert out.strip() == "deployment.apps/web created"
    stored = tls_sim.get("deployments", "web")
    managers = {e["manager"] for e in stored["metadata"]["managedFields"]}
    assert "kubectl-create" in managers
    code, _, err = await kubectl.run("create", "-f", str(manifest), ok=False)
    assert code == 1 and "AlreadyExists" in err


async def test_create_from_json_and_get_all_namespaces_as_json(
    tls_sim: SimCluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    """`create -f x.json` then `get -A -o json` returns what the server stored."""
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "lock", "namespace": "kube-system"},
        "spec": {"holderIdentity": "me"},
    }
    path = tmp_path / "lease.json"
    path.write_text(json.dumps(lease))
    await kubectl.run("create", "-f", str(path))
    _, out, _ = await kubectl.run("get", "leases", "-A", "-o", "json")
    items = json.loads(out)["items"]
    assert [(i["metadata"]["namespace"], i["spec"]["holderIdentity"]) for i in items] == [
        ("kube-system", "me")
    ]


async def test_rollout_status_scale_and_delete_a_deployment(
    tls_sim: SimCluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    """`rollout status` waits for the Deployment controller; `scale` goes through /scale."""
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(DEPLOYMENT_YAML)
    await kubectl.run("create", "-f", str(manifest))
    _, out, _ = await kubectl.run("rollout", "status", "deployment/web", "--timeout=30s")
    assert 'deployment "web" successfully rolled out' in out
    _, out, _ = await kubectl.run("scale", "deployment/web", "--replicas=3")
    assert out.strip() == "deployment.apps/web scaled"
    stored = tls_sim.get("deployments", "web")
    assert stored["spec"]["replicas"] == 3 and stored["metadata"]["generation"] == 2
    _, out, _ = await kubectl.run("delete", "deployment", "web")
    assert out.strip() == 'deployment.apps "web" deleted'
    assert tls_sim.registry.deletion_policies[stored["metadata"]["uid"]] == "Background"
    code, _, err = await kubectl.run("get", "deployment", "web", ok=False)
    assert code == 1 and "NotFound" in err


async def test_get_watch_streams_new_objects(tls_sim: SimCluster, kubectl: Kubectl) -> None:
    """`kubectl get leases -w` prints objects created while it watches."""
    process = await kubectl.start("get", "leases", "-w", "-o", "name")
    assert process.stdout is not None
    try:
        await asyncio.sleep(0.5)  # let kubectl list and open its watch
        await tls_sim.create("leases", {"metadata": {"name": "seen"}, "spec": {}})
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert line.decode().strip() == "lease.coordination.k8s.io/seen"
    finally:
        process.terminate()
        await process.wait()


async def test_readonly_kubeconfig_reads_but_cannot_delete(
    tls_sim: SimCluster, tmp_path: Path
) -> None:
    """With the read-only token kubectl gets pods but `delete` fails with Forbidden."""
    readonly = Kubectl(
        kubeconfig=tls_sim.write_kubeconfig(tmp_path / "ro", token=tls_sim.readonly_token),
        home=tmp_path,
    )
    await tls_sim.create("leases", {"metadata": {"name": "keep"}, "spec": {}})
    _, out, _ = await readonly.run("get", "leases", "-o", "name")
    assert out.split() == ["lease.coordination.k8s.io/keep"]
    code, _, err = await readonly.run("delete", "lease", "keep", ok=False)
    assert code == 1 and "Forbidden" in err and 'cannot delete resource "leases"' in err
    assert tls_sim.get("leases", "keep")["metadata"]["name"] == "keep"
