"""The resources the simulated API server serves, one table row each.

Everything generic (storage, list, watch, selectors, discovery, routing) reads
this table, so serving a new resource is one `ResourceInfo` plus whatever
defaulting it needs. `RESOURCES` holds every served resource by plural name
(plural names are unique across the groups served); `GROUPS` the named API
groups in the order `/apis` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
"""What the real server offers on most resources (deletecollection is not served)."""
SUBRESOURCE_VERBS = ("get", "patch", "update")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceInfo:
    """One API resource as discovery describes it, plus what the server needs to serve it."""

    name: str
    """Plural resource name, the URL segment (`pods`)."""
    singular: str
    kind: str
    group: str = ""
    version: str = "v1"
    namespaced: bool = True
    verbs: tuple[str, ...] = ("get", "list", "watch")
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace")
    """Fields usable in a fieldSelector (the real server rejects others with 400)."""
    has_generation: bool = False
    """Whether the real server sets metadata.generation on this kind."""
    storage_version_hash: str = ""
    subresources: tuple[str, ...] = ()
    """Served subresources: "status" (writes only `.status`), "scale" (autoscaling/v1 Scale)."""

    @property
    def api_version(self) -> str:
        """`v1` for the core group, `group/version` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def item_prefix(self) -> bytes:
        """How every stored object of this resource starts once serialized.

        List items omit kind and apiVersion on the real server; objects are stored
        with these two keys first, so a list item is the stored bytes minus this.
        """
        return f'{{"kind":"{self.kind}","apiVersion":"{self.api_version}",'.encode()


PODS = ResourceInfo(
    name="pods",
    singular="pod",
    kind="Pod",
    verbs=ALL_VERBS,
    short_names=("po",),
    categories=("all",),
    field_labels=(
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    has_generation=True,
    storage_version_hash="xPOwRZ+Yhw8=",
    subresources=("status",),
)

EVENTS = ResourceInfo(
    name="events",
    singular="event",
    kind="Event",
    verbs=ALL_VERBS,
    short_names=("ev",),
    field_labels=(
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    storage_version_hash="r2yiGXH7wu8=",
)

NODES = ResourceInfo(
    name="nodes",
    singular="node",
    kind="Node",
    namespaced=False,
    verbs=ALL_VERBS,
    short_names=("no",),
    field_labels=("metadata.name", "spec.unschedulable"),
    subresources=("status",),
    storage_version_hash="XwShjMxG9Fs=",
)

NAMESPACES = ResourceInfo(
    name="namespaces",
    singular="namespace",
    kind="Namespace",
    namespaced=False,
    verbs=("create", "get", "list", "patch", "update", "watch"),
    short_names=("ns",),
    field_labels=("metadata.name", "status.phase"),
    subresources=("status",),
    storage_version_hash="Q3oi5N2YM8M=",
)

PERSISTENT_VOLUME_CLAIMS = ResourceInfo(
    name="persistentvolumeclaims",
    singular="persistentvolumeclaim",
    kind="PersistentVolumeClaim",
    verbs=ALL_VERBS,
    short_names=("pvc",),
    storage_version_hash="QWTyNDq0dC4=",
    subresources=("status",),
)

PERSISTENT_VOLUMES = ResourceInfo(
    name="persistentvolumes",
    singular="persistentvolume",
    kind="PersistentVolume",
    namespaced=False,
    verbs=ALL_VERBS,
    short_names=("pv",),
    field_labels=("metadata.name",),
    storage_version_hash="HN/zwEC+JgM=",
    subresources=("status",),
)

CORE_V1: dict[str, ResourceInfo] = {
    r.name: r
    for r in (PODS, EVENTS, NODES, NAMESPACES, PERSISTENT_VOLUME_CLAIMS, PERSISTENT_VOLUMES)
}
"""The core/v1 resources served, by plural name."""


def _workload(
    name: str,
    kind: str,
    short: str,
    *,
    scale: bool,
    field_labels: tuple[str, ...] = ("metadata.name", "metadata.namespace"),
) -> ResourceInfo:
    """An apps/v1 workload: generation, status, and /scale where the real server has it."""
    return ResourceInfo(
        name=name,
        singular=name[:-1],
        kind=kind,
        group="apps",
        verbs=ALL_VERBS,
        short_names=(short,),
        categories=("all",),
        has_generation=True,
        field_labels=field_labels,
        subresources=("status", "scale") if scale else ("status",),
    )


DEPLOYMENTS = _workload("deployments", "Deployment", "deploy", scale=True)
REPLICA_SETS = _workload(
    "replicasets",
    "ReplicaSet",
    "rs",
    scale=True,
    field_labels=("metadata.name", "metadata.namespace", "status.replicas"),
)
STATEFUL_SETS = _workload("statefulsets", "StatefulSet", "sts", scale=True)
DAEMON_SETS = _workload("daemonsets", "DaemonSet", "ds", scale=False)
CONTROLLER_REVISIONS = ResourceInfo(
    name="controllerrevisions",
    singular="controllerrevision",
    kind="ControllerRevision",
    group="apps",
    verbs=ALL_VERBS,
)

JOBS = ResourceInfo(
    name="jobs",
    singular="job",
    kind="Job",
    group="batch",
    verbs=ALL_VERBS,
    categories=("all",),
    field_labels=("metadata.name", "metadata.namespace", "status.successful"),
    has_generation=True,
    subresources=("status",),
)

LEASES = ResourceInfo(
    name="leases",
    singular="lease",
    kind="Lease",
    group="coordination.k8s.io",
    verbs=ALL_VERBS,
)

RESOURCES: dict[str, ResourceInfo] = {
    **CORE_V1,
    **{
        r.name: r
        for r in (
            DEPLOYMENTS,
            REPLICA_SETS,
            STATEFUL_SETS,
            DAEMON_SETS,
            CONTROLLER_REVISIONS,
            JOBS,
            LEASES,
        )
    },
}
"""Every served resource, by plural name."""

GROUPS: tuple[tuple[str, str], ...] = (
    ("apps", "v1"),
    ("batch", "v1"),
    ("coordination.k8s.io", "v1"),
)
"""The named groups served, (group, preferred version), in the order `/apis` lists them."""

SCALE_API_VERSION = "autoscaling/v1"
"""The group/version of the Scale objects the /scale subresources speak."""


def served(*, group: str, version: str, resource: str) -> ResourceInfo | None:
    """The resource served under `/apis/<group>/<version>/<resource>` (group "" is /api/v1)."""
    info = RESOURCES.get(resource)
    if info is None or info.group != group or info.version != version:
        return None
    return info
