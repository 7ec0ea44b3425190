"""The table of watchable API resources: where each lives and which snapshot it decodes to."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.decoding import SNAPSHOT_TYPES

__all__ = ["RESOURCES", "WatchedResource", "resource_for_kind", "resource_named"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedResource:
    """One API resource the informers can list and watch.

    `name` is the plural resource name; it is also `Observation.resource` and the key
    into `decoding.SNAPSHOT_TYPES`.
    """

    name: str
    api_prefix: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise (as objects carry it)."""
        if self.api_prefix == "/api/v1":
            return "v1"
        return self.api_prefix.removeprefix("/apis/")

    @property
    def plural(self) -> str:
        return self.name

    @property
    def snapshot_type(self) -> type[Snapshot]:
        return SNAPSHOT_TYPES[self.name]

    def path(self, *, namespace: str | None = None) -> str:
        """The collection path, cluster-wide when namespace is None (or not namespaced)."""
        if namespace is None or not self.namespaced:
            return f"{self.api_prefix}/{self.name}"
        return f"{self.api_prefix}/namespaces/{quote(namespace, safe='')}/{self.name}"


RESOURCES: dict[str, WatchedResource] = {
    r.name: r
    for r in (
        WatchedResource(name="pods", api_prefix="/api/v1", kind="Pod"),
        WatchedResource(name="events", api_prefix="/api/v1", kind="Event"),
        WatchedResource(
            name="persistentvolumeclaims", api_prefix="/api/v1", kind="PersistentVolumeClaim"
        ),
        WatchedResource(
            name="persistentvolumes",
            api_prefix="/api/v1",
            kind="PersistentVolume",
            namespaced=False,
        ),
        WatchedResource(name="nodes", api_prefix="/api/v1", kind="Node", namespaced=False),
        WatchedResource(name="deployments", api_prefix="/apis/apps/v1", kind="Deployment"),
        WatchedResource(name="replicasets", api_prefix="/apis/apps/v1", kind="ReplicaSet"),
        WatchedResource(name="statefulsets", api_prefix="/apis/apps/v1", kind="StatefulSet"),
        WatchedResource(name="daemonsets", api_prefix="/apis/apps/v1", kind="DaemonSet"),
        WatchedResource(name="jobs", api_prefix="/apis/batch/v1", kind="Job"),
    )
}

_missing = set(RESOURCES) - set(SNAPSHOT_TYPES)
if _missing:  # a row without a decoder would fail at the first list; fail at import instead
    raise RuntimeError(f"resources without a snapshot type: {sorted(_missing)}")


def resource_named(name: str) -> WatchedResource:
    """Look a resource up by plural name; ValueError naming the known ones if absent."""
    try:
        return RESOURCES[name]
    except KeyError:
        raise ValueError(
            f"unknown resource {name!r} (known: {', '.join(sorted(RESOURCES))})"
        ) from None


_BY_KIND: dict[str, WatchedResource] = {r.kind: r for r in RESOURCES.values()}


def resource_for_kind(*, kind: str, api_version: str = "") -> WatchedResource | None:
    """The resource objects of `kind` belong to, or None for a kind we do not watch.

    `api_version` may be empty (list items omit it); when given, its group must match
    (an `events.k8s.io/v1` Event is not a core/v1 Event: different fields).
    """
    resource = _BY_KIND.get(kind)
    if resource is None or (api_version and api_version != resource.api_version):
        return None
    return resource
