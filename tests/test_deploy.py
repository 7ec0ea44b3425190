"""deploy/ renders with the stock kubectl, validates offline, and stays read-only and hardened."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tracewatch.config import ConfigError, read_env, read_file
from tracewatch.kube.resources import RESOURCES

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("deploy", "deploy/base", "deploy/overlays/ha", "deploy/examples/jaeger")
# The oldest Kubernetes minor these manifests promise to work on.
KUBERNETES_VERSION = "1.30.0"
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
# Volume types the restricted Pod Security Standard allows.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                      "persistentVolumeClaim", "projected", "secret"}

Objects = list[dict[str, Any]]


def render(path: str) -> Objects:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is part of this project's machines; install it to run this test"
    out = subprocess.run(
        [kubectl, "kustomize", str(ROOT / path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module")
def renders() -> dict[str, Objects]:
    return {variant: render(variant) for variant in VARIANTS}


def one(objects: Objects, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in found])
    return found[0]


def container(objects: Objects, deployment: str = "tracewatch") -> dict[str, Any]:
    pod = one(objects, "Deployment", deployment)["spec"]["template"]["spec"]
    return next(c for c in pod["containers"] if c["name"] == deployment)


def test_default_render_is_the_base(renders: dict[str, Objects]) -> None:
    """`kubectl kustomize deploy/` yields the base: namespace, RBAC, config, Deployment, Service."""
    kinds = sorted(d["kind"] for d in renders["deploy"])
    assert kinds == sorted(["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                            "ConfigMap", "Deployment", "Service"])
    assert renders["deploy"] == renders["deploy/base"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates_against_kubernetes_schemas(
    renders: dict[str, Objects], variant: str
) -> None:
    """Each rendered object passes the strict OpenAPI schema of its kind (offline)."""
    for obj in renders[variant]:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_bad_field(renders: dict[str, Objects]) -> None:
    """The validator is not a rubber stamp: a misspelled field fails strict validation."""
    deployment = dict(one(renders["deploy"], "Deployment"))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_cluster_role_covers_exactly_the_watchable_resources(renders: dict[str, Objects]) -> None:
    """The ClusterRole's (group, resource) pairs are those tracewatch can watch, no more."""
    role = one(renders["deploy"], "ClusterRole")
    granted = {(group, resource) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}
    watchable = {(_group(r.api_prefix), r.name) for r in RESOURCES.values()}
    assert granted == watchable
    for rule in role["rules"]:
        assert sorted(rule["verbs"]) == ["get", "list", "watch"], rule


def _group(api_prefix: str) -> str:
    """'' for /api/v1, 'apps' for /apis/apps/v1."""
    return "" if api_prefix == "/api/v1" else api_prefix.split("/")[2]


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_write_verb_except_on_leases_and_nothing_on_secrets(
    renders: dict[str, Objects], variant: str
) -> None:
    """Across every Role and ClusterRole: writes only on coordination Leases, no Secrets at all."""
    for role in (o for o in renders[variant] if o["kind"] in ("Role", "ClusterRole")):
        for rule in role["rules"]:
            assert "secrets" not in rule["resources"] and "*" not in rule["resources"], rule
            assert "*" not in rule["apiGroups"], rule
            if WRITE_VERBS & set(rule["verbs"]):
                assert rule["apiGroups"] == ["coordination.k8s.io"], rule
                assert rule["resources"] == ["leases"], rule
                assert role["kind"] == "Role", "Lease writes are namespaced, never cluster-wide"


def restricted_violations(deployment: dict[str, Any]) -> list[str]:
    """The restricted Pod Security Standard's checks that a Deployment's pod fails."""
    pod = deployment["spec"]["template"]["spec"]
    problems = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            problems.append(key)
    pod_sc = pod.get("securityContext", {})
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}: {kinds}")
    for c in pod.get("initContainers", []) + pod["containers"]:
        sc = c.get("securityContext", {})
        name = c["name"]
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            problems.append(f"{name}: capabilities must drop ALL")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot")
        if 0 in (sc.get("runAsUser"), pod_sc.get("runAsUser")):
            problems.append(f"{name}: runs as uid 0")
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            problems.append(f"{name}: hostPort")
        if not sc.get("readOnlyRootFilesystem"):
            problems.append(f"{name}: readOnlyRootFilesystem")  # ours, beyond the standard
        if not (c.get("resources", {}).get("limits") and c["resources"].get("requests")):
            problems.append(f"{name}: requests and limits")  # ours, beyond the standard
    return problems


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_deployment_passes_the_restricted_pod_security_standard(
    renders: dict[str, Objects], variant: str
) -> None:
    """tracewatch (and the example Jaeger) meet `restricted`, which the namespace enforces."""
    namespace = one(renders[variant], "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in (o for o in renders[variant] if o["kind"] == "Deployment"):
        assert restricted_violations(deployment) == [], deployment["metadata"]["name"]


def test_the_restricted_check_is_not_a_rubber_stamp(renders: dict[str, Objects]) -> None:
    """A root, privileged container is reported by the same check."""
    deployment = yaml.safe_load(yaml.safe_dump(one(renders["deploy"], "Deployment")))
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"] = {"privileged": True, "runAsUser": 0}
    assert len(restricted_violations(deployment)) >= 4


def test_probes_and_service_use_the_ops_port(renders: dict[str, Objects]) -> None:
    """Liveness /healthz and readiness /readyz on the ops port the Service also targets."""
    objects = renders["deploy"]
    c = container(objects)
    ops = next(p for p in c["ports"] if p["name"] == "ops")
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["TRACEWATCH_OPS_ADDRESS"] == f":{ops['containerPort']}"
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    service = one(objects, "Service", "tracewatch-metrics")
    assert service["spec"]["ports"][0]["targetPort"] == "ops"
    labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


@pytest.mark.parametrize("variant", VARIANTS)
def test_environment_and_config_are_settings_tracewatch_accepts(
    renders: dict[str, Objects], variant: str, tmp_path: Path
) -> None:
    """Every TRACEWATCH_* variable and the ConfigMap's file load without a ConfigError."""
    objects = renders[variant]
    pod = one(objects, "Deployment", "tracewatch")["spec"]["template"]["spec"]
    # Service links would add TRACEWATCH_METRICS_SERVICE_HOST & co: noise in the environment
    # (the settings reader skips them, see test_config).
    assert pod["enableServiceLinks"] is False
    env = {e["name"]: e["value"] for e in container(objects)["env"] if "value" in e}
    read_env(env)
    config = one(objects, "ConfigMap")
    for name, text in config["data"].items():
        path = tmp_path / name
        path.write_text(text)
        read_file(str(path))
    mount = next(v for v in pod["volumes"] if v["name"] == "config")
    assert mount["configMap"]["name"] == config["metadata"]["name"]
    with pytest.raises(ConfigError):  # and the check is real
        read_env({"TRACEWATCH_METRICS_SERVICE_HOSTNAME": "10.0.0.1"})


def test_ha_overlay_adds_leader_election(renders: dict[str, Objects]) -> None:
    """Two replicas, --leader-elect, downward-API identity, and a Lease Role bound to the SA."""
    objects = renders["deploy/overlays/ha"]
    deployment = one(objects, "Deployment", "tracewatch")
    assert deployment["spec"]["replicas"] == 2
    c = container(objects)
    assert "--leader-elect" in c["args"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    role = one(objects, "Role", "tracewatch-leader-election")
    assert role["metadata"]["namespace"] == "tracewatch"
    binding = one(objects, "RoleBinding", "tracewatch-leader-election")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tracewatch", "namespace": "tracewatch"}]
    assert "--leader-elect" not in container(renders["deploy"])["args"]


def test_jaeger_example_points_tracewatch_at_jaeger(renders: dict[str, Objects]) -> None:
    """The example runs Jaeger v2 with OTLP 4317/4318 and UI 16686; tracewatch exports to it."""
    objects = renders["deploy/examples/jaeger"]
    jaeger = container(objects, "jaeger")
    assert re.fullmatch(r"jaegertracing/jaeger:2\.\d+\.\d+", jaeger["image"])
    service = one(objects, "Service", "jaeger")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"otlp-grpc": 4317, "otlp-http": 4318, "ui": 16686}
    env = {e["name"]: e.get("value") for e in container(objects)["env"]}
    assert env["TRACEWATCH_OTLP_ENDPOINT"] == "http://jaeger:4317"
    assert service["metadata"]["namespace"] == one(objects, "Deployment",
                                                    "tracewatch")["metadata"]["namespace"]


def test_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    """Two or more stages, an exact base image version (never latest), a numeric non-root USER."""
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE)
    assert len(stages) >= 2
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)", text, re.MULTILINE)
    assert base and re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?",
                                 base.group(1))
    assert all(s == "${PYTHON_IMAGE}" or (":" in s and "latest" not in s) for s in stages)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    last_stage = text[text.rindex("FROM"):]
    assert "USER" in last_stage
    deployment_uid = yaml.safe_load((ROOT / "deploy/base/deployment.yaml").read_text())
    pod_sc = deployment_uid["spec"]["template"]["spec"]["securityContext"]
    assert users[-1] == f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"
