"""Discovery documents: /version, /api, /api/v1, /apis, /apis/<group>[/<version>], from the table.

Served as plain `application/json`, which tells clients asking for aggregated
discovery (kubectl >= 1.26) to fall back to the legacy documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracewatch.sim.resources import (
    GROUPS,
    SCALE_API_VERSION,
    SUBRESOURCE_VERBS,
    ResourceInfo,
)

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


def _group(name: str, version: str) -> dict[str, Any]:
    gv = {"groupVersion": f"{name}/{version}", "version": version}
    return {"name": name, "versions": [gv], "preferredVersion": dict(gv)}


def api_group_list() -> dict[str, Any]:
    """`/apis`: every named group served (an APIGroupList)."""
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(name, version) for name, version in GROUPS],
    }


def api_group(group: str) -> dict[str, Any] | None:
    """`/apis/<group>`: the APIGroup, or None if the group is not served."""
    for name, version in GROUPS:
        if name == group:
            return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, version)}
    return None


def _subresource_entry(r: ResourceInfo, sub: str) -> dict[str, Any]:
    """`<resource>/status` speaks the resource's own kind; `/scale` speaks autoscaling/v1 Scale."""
    entry: dict[str, Any] = {
        "name": f"{r.name}/{sub}",
        "singularName": "",
        "namespaced": r.namespaced,
    }
    if sub == "scale":
        group, version = SCALE_API_VERSION.split("/")
        entry.update(group=group, version=version, kind="Scale")
    else:
        entry["kind"] = r.kind
    entry["verbs"] = list(SUBRESOURCE_VERBS)
    return entry


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
        entries.extend(_subresource_entry(r, sub) for sub in r.subresources)
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": entries}
