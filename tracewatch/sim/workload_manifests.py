"""Manifests for the workloads scenarios create (plain dicts, as a client would POST them).

Container behaviour the simulated kubelet honours is set through env vars (see
`tracewatch.sim.behaviour`); `container()` builds such a container spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def container(
    name: str = "main",
    *,
    image: str = "nginx:1.27",
    run_seconds: float | None = None,
    exit_code: int | None = None,
    ready_delay_seconds: float | None = None,
    pull_error: str | None = None,
    requests: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A container spec; the keyword arguments become the simulator's `SIM_*` env vars."""
    spec: dict[str, Any] = {"name": name, "image": image}
    env = []
    for var, value in (
        ("SIM_RUN_SECONDS", run_seconds),
        ("SIM_EXIT_CODE", exit_code),
        ("SIM_READY_DELAY_SECONDS", ready_delay_seconds),
        ("SIM_PULL_ERROR", pull_error),
    ):
        if value is not None:
            env.append({"name": var, "value": str(value)})
    if env:
        spec["env"] = env
    if requests:
        spec["resources"] = {"requests": dict(requests)}
    return spec


def pod_template(
    labels: Mapping[str, str],
    *,
    containers: Sequence[Mapping[str, Any]] | None = None,
    init_containers: Sequence[Mapping[str, Any]] | None = None,
    restart_policy: str | None = None,
    annotations: Mapping[str, str] | None = None,
    node_selector: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A PodTemplateSpec with the given labels (one `main` nginx container by default)."""
    meta: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {"containers": [dict(c) for c in containers or [container()]]}
    if init_containers:
        spec["initContainers"] = [dict(c) for c in init_containers]
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if node_selector:
        spec["nodeSelector"] = dict(node_selector)
    return {"metadata": meta, "spec": spec}


def deployment_manifest(
    name: str,
    *,
    replicas: int = 3,
    image: str = "nginx:1.27",
    template: Mapping[str, Any] | None = None,
    strategy: Mapping[str, Any] | None = None,
    min_ready_seconds: int | None = None,
    progress_deadline_seconds: int | None = None,
) -> dict[str, Any]:
    """An apps/v1 Deployment selecting `app: <name>`."""
    labels = {"app": name}
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "template": dict(template)
        if template
        else pod_template(labels, containers=[container(image=image)]),
    }
    if strategy:
        spec["strategy"] = dict(strategy)
    if min_ready_seconds is not None:
        spec["minReadySeconds"] = min_ready_seconds
    if progress_deadline_seconds is not None:
        spec["progressDeadlineSeconds"] = progress_deadline_seconds
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": spec,
    }


def statefulset_manifest(
    name: str,
    *,
    replicas: int = 3,
    image: str = "nginx:1.27",
    pod_management_policy: str = "OrderedReady",
    claims: Sequence[str] = ("data",),
    storage_class: str | None = None,
    storage: str = "1Gi",
) -> dict[str, Any]:
    """An apps/v1 StatefulSet selecting `app: <name>`, one volumeClaimTemplate per claim name."""
    labels = {"app": name}
    template = pod_template(labels, containers=[container(image=image)])
    templates = []
    for claim in claims:
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
        }
        if storage_class is not None:
            claim_spec["storageClassName"] = storage_class
        templates.append({"metadata": {"name": claim}, "spec": claim_spec})
        template["spec"]["containers"][0].setdefault("volumeMounts", []).append(
            {"name": claim, "mountPath": f"/var/lib/{claim}"}
        )
    spec: dict[str, Any] = {
        "replicas": replicas,
        "serviceName": name,
        "podManagementPolicy": pod_management_policy,
        "selector": {"matchLabels": labels},
        "template": template,
    }
    if templates:
        spec["volumeClaimTemplates"] = templates
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def job_manifest(
    name: str,
    *,
    completions: int = 1,
    parallelism: int = 1,
    backoff_limit: int | None = None,
    run_seconds: float = 1.0,
    exit_code: int = 0,
    restart_policy: str = "Never",
    active_deadline_seconds: int | None = None,
    image: str = "busybox:1.36",
) -> dict[str, Any]:
    """A batch/v1 Job whose pods run `run_seconds` then exit with `exit_code`."""
    spec: dict[str, Any] = {
        "completions": completions,
        "parallelism": parallelism,
        "template": pod_template(
            {"app": name},
            containers=[container(image=image, run_seconds=run_seconds, exit_code=exit_code)],
            restart_policy=restart_policy,
        ),
    }
    if backoff_limit is not None:
        spec["backoffLimit"] = backoff_limit
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name}, "spec": spec}


def daemonset_manifest(name: str, *, image: str = "nginx:1.27") -> dict[str, Any]:
    """An apps/v1 DaemonSet selecting `app: <name>`."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": pod_template(labels, containers=[container(image=image)]),
        },
    }


def pvc_manifest(
    name: str, *, storage_class: str | None = None, storage: str = "1Gi"
) -> dict[str, Any]:
    """A core/v1 PersistentVolumeClaim (ReadWriteOnce); no class means the default class."""
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage}},
    }
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": spec,
    }
