"""The autoscaling/v1 `Scale` view of deployments, replicasets and statefulsets (`/scale`).

A Scale carries the parent's name, namespace, uid, resourceVersion and
creationTimestamp, `spec.replicas` from the parent's spec, and `status.replicas`
plus `status.selector` (the label selector in its string form) from the parent.
Writing a Scale writes only the parent's `spec.replicas`.
"""

from __future__ import annotations

from typing import Any

from tracewatch.sim.resources import SCALE_API_VERSION
from tracewatch.sim.selectors import selector_string


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale object for a stored workload."""
    meta = obj["metadata"]
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {
            "replicas": status.get("replicas", 0),
            "selector": selector_string(spec.get("selector")),
        },
    }


def replicas_of(scale: dict[str, Any]) -> int | None:
    """A written Scale's `spec.replicas`, or None if it is missing or not a count."""
    replicas = (scale.get("spec") or {}).get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        return None
    return replicas
