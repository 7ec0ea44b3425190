"""The API server's defaulting of workloads, claims and volumes on create (`defaults.go`).

Pods are defaulted in `tracewatch.sim.objects.default_pod`; this module does the
kinds whose defaults a client reading `kubectl get -o yaml` (or tracewatch)
sees: Deployment strategy and deadlines, StatefulSet policies, DaemonSet update
strategy, Job counts and its generated selector, claim/volume modes and phase,
and the pod template defaults every workload carries. Defaults only fill what
is missing; nothing given is overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracewatch.sim.objects import pull_policy

JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def default_pod_template(template: dict[str, Any], *, restart_policy: str = "Always") -> None:
    """PodTemplateSpec defaults (the pod defaults that do not need admission), in place."""
    spec = template.setdefault("spec", {})
    for container in [*spec.get("initContainers", ()), *spec.get("containers", ())]:
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", pull_policy(container.get("image", "")))
    spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")


def _deployment(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
    if strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_pod_template(spec.setdefault("template", {}))


def _replicaset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    default_pod_template(spec.setdefault("template", {}))


def _statefulset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if update.setdefault("type", "RollingUpdate") == "RollingUpdate":
        update.setdefault("rollingUpdate", {}).setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "persistentVolumeClaimRetentionPolicy", {"whenDeleted": "Retain", "whenScaled": "Retain"}
    )
    for claim in spec.get("volumeClaimTemplates", ()):
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {"phase": "Pending"})
    default_pod_template(spec.setdefault("template", {}))


def _daemonset(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    update = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
    if update.setdefault("type", "RollingUpdate") == "RollingUpdate":
        rolling = update.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_pod_template(spec.setdefault("template", {}))


def _job(obj: dict[str, Any]) -> None:
    """Counts, policies, and (unless manualSelector) the selector on the Job's own uid."""
    spec = obj.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    meta = obj["metadata"]
    template = spec.setdefault("template", {})
    if not spec.get("manualSelector"):
        uid, name = meta["uid"], meta["name"]
        spec["selector"] = {"matchLabels": {JOB_UID_LABEL: uid}}
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        labels.update(
            {JOB_UID_LABEL: uid, JOB_NAME_LABEL: name, "controller-uid": uid, "job-name": name}
        )
    default_pod_template(template, restart_policy="Never")


def _claim(obj: dict[str, Any]) -> None:
    obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
    obj["status"] = {"phase": "Pending"}


def _volume(obj: dict[str, Any]) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {"phase": "Pending"})


DEFAULTERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "deployments": _deployment,
    "replicasets": _replicaset,
    "statefulsets": _statefulset,
    "daemonsets": _daemonset,
    "jobs": _job,
    "persistentvolumeclaims": _claim,
    "persistentvolumes": _volume,
}
"""Per resource: fill the real server's defaults in place (after uid and name are set)."""


def apply_defaults(resource: str, obj: dict[str, Any]) -> None:
    """Default `obj` in place if `resource` has defaults."""
    defaulter = DEFAULTERS.get(resource)
    if defaulter is not None:
        defaulter(obj)
