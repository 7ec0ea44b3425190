"""The table of watchable API resources: where each lives and which snapshot it decodes to."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tracewatch.core.snapshots import Snapshot
from tracewatch.kube.decoding import SNAPSHOT_TYPES

__all__ = ["RESOURCES", "WatchedResource", "resource_named"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchedResource:
    """One API resource the informers can list and watch.

    `name` is the plural resource name; it is also `Observation.resource` and the key
    into `decoding.SNAPSHOT_TYPES`.
    """

    name: str
    api_prefix: str
    namespaced: bool = True

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
        WatchedResource(name="pods", api_prefix="/api/v1"),
        WatchedResource(name="events", api_prefix="/api/v1"),
        WatchedResource(name="persistentvolumeclaims", api_prefix="/api/v1"),
        WatchedResource(name="persistentvolumes", api_prefix="/api/v1", namespaced=False),
        WatchedResource(name="nodes", api_prefix="/api/v1", namespaced=False),
        WatchedResource(name="deployments", api_prefix="/apis/apps/v1"),
        WatchedResource(name="replicasets", api_prefix="/apis/apps/v1"),
        WatchedResource(name="statefulsets", api_prefix="/apis/apps/v1"),
        WatchedResource(name="daemonsets", api_prefix="/apis/apps/v1"),
        WatchedResource(name="jobs", api_prefix="/apis/batch/v1"),
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
