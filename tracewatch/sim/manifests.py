"""Manifests for the objects scenarios create (plain dicts, as a client would POST them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def pod_manifest(
    name: str,
    *,
    image: str = "nginx:1.27",
    containers: Sequence[Mapping[str, Any]] | None = None,
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    node_name: str | None = None,
) -> dict[str, Any]:
    """A Pod manifest: one container `main` running `image`, unless `containers` is given.

    `containers` entries are container specs (at least `name` and `image`);
    `node_name` creates the pod already bound (no scheduling).
    """
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    spec: dict[str, Any] = {
        "containers": [dict(c) for c in containers]
        if containers
        else [{"name": "main", "image": image}]
    }
    if node_name:
        spec["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
