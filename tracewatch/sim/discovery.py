"""Discovery documents: /version, /api, /api/v1, /apis, built from the resource table.

Served as plain `application/json`, which tells clients asking for aggregated
discovery (kubectl >= 1.26) to fall back to the legacy documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracewatch.sim.resources import ResourceInfo

KUBERNETES_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
    "gitTreeState": "clean",
    "buildDate": "2024-12-11T17:59:15Z",
    "goVersion": "go1.23.3",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def version() -> dict[str, Any]:
    return dict(KUBERNETES_VERSION)


def api_versions(*, server_address: str) -> dict[str, Any]:
    """`/api`: the core group's versions."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group_list() -> dict[str, Any]:
    """`/apis`: no named groups are served yet."""
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}


def resource_list(*, group_version: str, resources: Iterable[ResourceInfo]) -> dict[str, Any]:
    """`/api/v1` (or `/apis/<group>/<version>`): an APIResourceList."""
    entries = []
    for r in resources:
        if r.api_version != group_version:
            continue
        entry: dict[str, Any] = {
            "name": r.name,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": sorted(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        if r.storage_version_hash:
            entry["storageVersionHash"] = r.storage_version_hash
        entries.append(entry)
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": entries}
