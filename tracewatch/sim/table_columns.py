"""Each served kind's Table columns (metav1.TableColumnDefinition) and row function.

The column names, types, priorities and descriptions of kube-apiserver's
`AddHandlers` (`pkg/printers/internalversion/printers.go`, v1.32); the row
functions are in `tracewatch.sim.printers`. `PRINTERS` maps a resource's plural
name to its printer; a served kind is one entry here plus its row function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tracewatch.sim.column_docs import DOCS
from tracewatch.sim.printers import (
    Cells,
    Obj,
    RowConditions,
    controllerrevision_cells,
    event_cells,
    lease_cells,
    namespace_cells,
    node_cells,
    persistentvolume_cells,
    persistentvolumeclaim_cells,
    pod_cells,
)
from tracewatch.sim.workload_printers import (
    daemonset_cells,
    deployment_cells,
    job_cells,
    replicaset_cells,
    statefulset_cells,
)

_NAME_DOC = DOCS["ObjectMeta.name"]
_AGE_DOC = DOCS["ObjectMeta.creationTimestamp"]
_CONTAINERS_DOC = "Names of each container in the template."
_IMAGES_DOC = "Images referenced by each container in the template."


@dataclass(frozen=True, slots=True)
class Column:
    """A metav1.TableColumnDefinition."""

    name: str
    type: str
    description: str
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def _name() -> Column:
    return Column("Name", "string", _NAME_DOC, format="name")


def _age() -> Column:
    return Column("Age", "string", _AGE_DOC)


def _template_columns(*, selector: str | None) -> tuple[Column, ...]:
    wide = (
        Column("Containers", "string", _CONTAINERS_DOC, 1),
        Column("Images", "string", _IMAGES_DOC, 1),
    )
    return (*wide, Column("Selector", "string", DOCS[selector], 1)) if selector else wide


@dataclass(frozen=True, slots=True)
class Printer:
    """One kind's columns and its row function (cells, and row conditions for pods)."""

    columns: tuple[Column, ...]
    row: Callable[[Obj, int], tuple[Cells, RowConditions]]


def _plain(cells: Callable[[Obj, int], Cells]) -> Callable[[Obj, int], tuple[Cells, None]]:
    return lambda obj, now_ns: (cells(obj, now_ns), None)


def _doc_columns(*columns: tuple[str, str, str] | tuple[str, str, str, int]) -> list[Column]:
    return [Column(c[0], c[1], DOCS.get(c[2], c[2]), *c[3:]) for c in columns]


PRINTERS: dict[str, Printer] = {
    "pods": Printer(
        (
            _name(),
            Column(
                "Ready",
                "string",
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            Column("Status", "string", "The aggregate status of the containers in this pod."),
            Column(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted and when the "
                "last container in this pod has restarted.",
            ),
            _age(),
            *_doc_columns(
                ("IP", "string", "PodStatus.podIP", 1),
                ("Node", "string", "PodSpec.nodeName", 1),
                ("Nominated Node", "string", "PodStatus.nominatedNodeName", 1),
                ("Readiness Gates", "string", "PodSpec.readinessGates", 1),
            ),
        ),
        pod_cells,
    ),
    "deployments": Printer(
        (
            _name(),
            Column("Ready", "string", "Number of the pod with ready state"),
            *_doc_columns(
                ("Up-to-date", "string", "DeploymentStatus.updatedReplicas"),
                ("Available", "string", "DeploymentStatus.availableReplicas"),
            ),
            _age(),
            *_template_columns(selector="DeploymentSpec.selector"),
        ),
        _plain(deployment_cells),
    ),
    "replicasets": Printer(
        (
            _name(),
            *_doc_columns(
                ("Desired", "integer", "ReplicaSetSpec.replicas"),
                ("Current", "integer", "ReplicaSetStatus.replicas"),
                ("Ready", "integer", "ReplicaSetStatus.readyReplicas"),
            ),
            _age(),
            *_template_columns(selector="ReplicaSetSpec.selector"),
        ),
        _plain(replicaset_cells),
    ),
    "statefulsets": Printer(
        (
            _name(),
            Column("Ready", "string", "Number of the pod with ready state"),
            _age(),
            *_template_columns(selector=None),
        ),
        _plain(statefulset_cells),
    ),
    "daemonsets": Printer(
        (
            _name(),
            *_doc_columns(
                ("Desired", "integer", "DaemonSetStatus.desiredNumberScheduled"),
                ("Current", "integer", "DaemonSetStatus.currentNumberScheduled"),
                ("Ready", "integer", "DaemonSetStatus.numberReady"),
                ("Up-to-date", "integer", "DaemonSetStatus.updatedNumberScheduled"),
                ("Available", "integer", "DaemonSetStatus.numberAvailable"),
                ("Node Selector", "string", "PodSpec.nodeSelector"),
            ),
            _age(),
            *_template_columns(selector="DaemonSetSpec.selector"),
        ),
        _plain(daemonset_cells),
    ),
    "jobs": Printer(
        (
            _name(),
            Column("Status", "string", "Status of the job."),
            Column("Completions", "string", DOCS["JobStatus.succeeded"]),
            Column("Duration", "string", "Time required to complete the job."),
            _age(),
            *_template_columns(selector="JobSpec.selector"),
        ),
        _plain(job_cells),
    ),
    "nodes": Printer(
        (
            _name(),
            Column("Status", "string", "The status of the node"),
            Column("Roles", "string", "The roles of the node"),
            _age(),
            *_doc_columns(
                ("Version", "string", "NodeSystemInfo.kubeletVersion"),
                ("Internal-IP", "string", "NodeStatus.addresses", 1),
                ("External-IP", "string", "NodeStatus.addresses", 1),
                ("OS-Image", "string", "NodeSystemInfo.osImage", 1),
                ("Kernel-Version", "string", "NodeSystemInfo.kernelVersion", 1),
                ("Container-Runtime", "string", "NodeSystemInfo.containerRuntimeVersion", 1),
            ),
        ),
        _plain(node_cells),
    ),
    "namespaces": Printer(
        (_name(), Column("Status", "string", "The status of the namespace"), _age()),
        _plain(namespace_cells),
    ),
    "events": Printer(
        (
            *_doc_columns(
                ("Last Seen", "string", "Event.lastTimestamp"),
                ("Type", "string", "Event.type"),
                ("Reason", "string", "Event.reason"),
                ("Object", "string", "Event.involvedObject"),
                ("Subobject", "string", "ObjectReference.fieldPath", 1),
                ("Source", "string", "Event.source", 1),
                ("Message", "string", "Event.message"),
                ("First Seen", "string", "Event.firstTimestamp", 1),
                ("Count", "string", "Event.count", 1),
            ),
            Column("Name", "string", _NAME_DOC, 1, "name"),
        ),
        _plain(event_cells),
    ),
    "persistentvolumes": Printer(
        (
            _name(),
            *_doc_columns(
                ("Capacity", "string", "PersistentVolumeSpec.capacity"),
                ("Access Modes", "string", "PersistentVolumeSpec.accessModes"),
                ("Reclaim Policy", "string", "PersistentVolumeSpec.persistentVolumeReclaimPolicy"),
                ("Status", "string", "PersistentVolumeStatus.phase"),
                ("Claim", "string", "PersistentVolumeSpec.claimRef"),
                ("StorageClass", "string", "StorageClass of the pv"),
                ("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
                ("Reason", "string", "PersistentVolumeStatus.reason"),
            ),
            _age(),
            *_doc_columns(("VolumeMode", "string", "PersistentVolumeSpec.volumeMode", 1)),
        ),
        _plain(persistentvolume_cells),
    ),
    "persistentvolumeclaims": Printer(
        (
            _name(),
            *_doc_columns(
                ("Status", "string", "PersistentVolumeClaimStatus.phase"),
                ("Volume", "string", "PersistentVolumeClaimSpec.volumeName"),
                ("Capacity", "string", "PersistentVolumeClaimStatus.capacity"),
                ("Access Modes", "string", "PersistentVolumeClaimStatus.accessModes"),
                ("StorageClass", "string", "StorageClass of the pvc"),
                ("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
            ),
            _age(),
            *_doc_columns(("VolumeMode", "string", "PersistentVolumeClaimSpec.volumeMode", 1)),
        ),
        _plain(persistentvolumeclaim_cells),
    ),
    "leases": Printer(
        (_name(), *_doc_columns(("Holder", "string", "LeaseSpec.holderIdentity")), _age()),
        _plain(lease_cells),
    ),
    "controllerrevisions": Printer(
        (
            _name(),
            Column("Controller", "string", "Controller of the object"),
            *_doc_columns(("Revision", "string", "ControllerRevision.revision")),
            _age(),
        ),
        _plain(controllerrevision_cells),
    ),
}
"""Every served resource's printer, by plural name."""
