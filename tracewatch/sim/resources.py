"""The resources the simulated API server serves, one table row each.

Everything generic (storage, list, watch, selectors, discovery, routing) reads
this table, so serving a new resource is one `ResourceInfo` plus whatever
defaulting it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "get", "list", "watch")


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
    verbs=("create", "get", "list", "watch"),
    short_names=("no",),
    field_labels=("metadata.name", "spec.unschedulable"),
    storage_version_hash="XwShjMxG9Fs=",
)

NAMESPACES = ResourceInfo(
    name="namespaces",
    singular="namespace",
    kind="Namespace",
    namespaced=False,
    verbs=("create", "get", "list", "watch"),
    short_names=("ns",),
    field_labels=("metadata.name", "status.phase"),
    storage_version_hash="Q3oi5N2YM8M=",
)

CORE_V1: dict[str, ResourceInfo] = {r.name: r for r in (PODS, EVENTS, NODES, NAMESPACES)}
"""The core/v1 resources served, by plural name."""
