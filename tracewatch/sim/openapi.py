"""A minimal `/openapi/v3`: enough for kubectl to see that the server validates fields itself.

kubectl (>= 1.27) decides between server-side field validation and its own
client-side schema validation by reading `/openapi/v3/<group-version>` and
looking for a PATCH operation tagged with the object's
`x-kubernetes-group-version-kind` that takes a `fieldValidation` parameter
(cli-runtime's `queryParamVerifierV3`). Serving exactly that, and no schemas,
makes `kubectl create -f` send `?fieldValidation=Strict` instead of failing
for want of schemas; no `--validate=false` needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from tracewatch.sim.resources import ResourceInfo

_FIELD_VALIDATION = {
    "name": "fieldValidation",
    "in": "query",
    "description": "How the server handles unknown or duplicate fields: Ignore, Warn or Strict.",
    "schema": {"type": "string", "uniqueItems": True},
}


def gv_path(info: ResourceInfo) -> str:
    """The openapi/v3 key of the resource's group-version: `api/v1` or `apis/<group>/<v>`."""
    return f"apis/{info.group}/{info.version}" if info.group else f"api/{info.version}"


def _document_hash(path: str) -> str:
    return hashlib.sha512(path.encode()).hexdigest()[:128].upper()


def root(resources: Iterable[ResourceInfo]) -> dict[str, Any]:
    """`/openapi/v3`: where each group-version's document is."""
    paths = sorted({gv_path(r) for r in resources})
    return {
        "paths": {
            p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={_document_hash(p)}"} for p in paths
        }
    }


def group_version(path: str, resources: Iterable[ResourceInfo]) -> dict[str, Any] | None:
    """`/openapi/v3/<path>`: a PATCH operation per kind with `fieldValidation`; None if unknown."""
    served = [r for r in resources if gv_path(r) == path]
    if not served:
        return None
    paths: dict[str, Any] = {}
    for info in served:
        prefix = f"/{path}/namespaces/{{namespace}}" if info.namespaced else f"/{path}"
        gvk = {"group": info.group, "version": info.version, "kind": info.kind}
        paths[f"{prefix}/{info.name}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{info.kind}",
                "parameters": [_FIELD_VALIDATION],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }
