"""deploy/ renders with the stock kubectl and stays read-only and hardened."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WRITE_VERBS = {
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "*",
    "escalate",
    "bind",
    "impersonate",
}


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is part of this project's machines; install it to run this test"
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_renders_expected_objects(rendered: list[dict[str, Any]]) -> None:
    """`kubectl kustomize deploy/` yields the namespace, RBAC, config and Deployment."""
    kinds = sorted(d["kind"] for d in rendered)
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
        ]
    )


def test_cluster_role_is_read_only(rendered: list[dict[str, Any]]) -> None:
    """The ClusterRole grants no write verb and nothing on Secrets."""
    role = next(d for d in rendered if d["kind"] == "ClusterRole")
    for rule in role["rules"]:
        assert not WRITE_VERBS & set(rule["verbs"]), rule
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"], rule


def test_deployment_is_hardened(rendered: list[dict[str, Any]]) -> None:
    """Non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp, limits."""
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for container in pod["containers"]:
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"] and container["resources"]["requests"]
    config = next(d for d in rendered if d["kind"] == "ConfigMap")
    assert pod["volumes"][0]["configMap"]["name"] == config["metadata"]["name"]
