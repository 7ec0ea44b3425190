"""Compact snapshots of API objects: only the fields the lifecycle trackers read.

These msgspec Structs double as the wire schema: `tracewatch.kube` decodes raw
watch lines straight into them (schema-directed decoding skips every field not
declared here, which is what makes it several times faster than a full JSON
parse), so a field the core needs must be declared here and nowhere else.

Timestamps stay RFC 3339 strings as the server sent them; `tracewatch.core.clock`
parses them when a tracker actually needs the value. Every field has a default:
a missing field is the server's omitempty, never a decoding error.
"""

from __future__ import annotations

from msgspec import Struct


class _Compact(Struct, frozen=True, rename="camel", omit_defaults=True, gc=False):
    """Base: immutable, camelCase on the wire, not tracked by the GC (no cycles possible).

    Subclasses say frozen=True again: msgspec inherits it, type checkers do not."""


class OwnerReference(_Compact, frozen=True):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool = False


class ObjectMeta(_Compact, frozen=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: int | None = None
    annotations: dict[str, str] | None = None
    owner_references: tuple[OwnerReference, ...] = ()


class ManagedField(_Compact, frozen=True):
    """Who last wrote which part, and when (second precision); fieldsV1 itself is skipped."""

    manager: str = ""
    operation: str = ""
    subresource: str = ""
    time: str | None = None


class WorkloadMeta(ObjectMeta, frozen=True):
    """ObjectMeta plus managedFields: workloads need the time of their last spec change."""

    managed_fields: tuple[ManagedField, ...] = ()


class Container(_Compact, frozen=True):
    name: str = ""
    image: str = ""


class ClaimSource(_Compact, frozen=True):
    claim_name: str = ""


class Volume(_Compact, frozen=True):
    name: str = ""
    persistent_volume_claim: ClaimSource | None = None


class PodSpec(_Compact, frozen=True):
    node_name: str = ""
    containers: tuple[Container, ...] = ()
    init_containers: tuple[Container, ...] = ()
    restart_policy: str = ""
    volumes: tuple[Volume, ...] = ()


class Condition(_Compact, frozen=True):
    """A status condition; the same shape on every kind (lastUpdateTime only on some)."""

    type: str = ""
    status: str = ""
    last_transition_time: str | None = None
    last_update_time: str | None = None
    reason: str = ""
    message: str = ""


PodCondition = Condition


class StateRunning(_Compact, frozen=True):
    started_at: str | None = None


class StateTerminated(_Compact, frozen=True):
    exit_code: int = 0
    reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None


class StateWaiting(_Compact, frozen=True):
    reason: str = ""
    message: str = ""


class ContainerState(_Compact, frozen=True):
    running: StateRunning | None = None
    terminated: StateTerminated | None = None
    waiting: StateWaiting | None = None


class ContainerStatus(_Compact, frozen=True):
    name: str = ""
    restart_count: int = 0
    state: ContainerState = ContainerState()
    last_state: ContainerState = ContainerState()


class PodStatus(_Compact, frozen=True):
    phase: str = ""
    reason: str = ""
    start_time: str | None = None
    conditions: tuple[PodCondition, ...] = ()
    container_statuses: tuple[ContainerStatus, ...] = ()
    init_container_statuses: tuple[ContainerStatus, ...] = ()


class Pod(_Compact, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PodSpec = PodSpec()
    status: PodStatus = PodStatus()


class ObjectReference(_Compact, frozen=True):
    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    resource_version: str = ""
    field_path: str = ""


# Events are nearly half of what a cluster sends: their Structs hold only what is read, in
# the order the API server writes the fields (msgspec finds each key fastest so).


class EventMeta(_Compact, frozen=True):
    """An Event's ObjectMeta: its name (a legacy Event's clock) and what the watch books,
    relisting and sharding read of any object's."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = ""
    deletion_timestamp: str | None = None
    owner_references: tuple[OwnerReference, ...] = ()


class InvolvedObject(_Compact, frozen=True):
    """What an Event is about (an ObjectReference): the object and, in it, the container."""

    kind: str = ""
    uid: str = ""
    resource_version: str = ""
    field_path: str = ""


class Event(_Compact, frozen=True):
    """A core/v1 Event (the events.k8s.io/v1 fields appear here under their v1 names)."""

    metadata: EventMeta = EventMeta()
    involved_object: InvolvedObject = InvolvedObject()
    reason: str = ""
    message: str = ""
    first_timestamp: str | None = None
    count: int = 0
    type: str = ""
    event_time: str | None = None


class ReplicaSetSpec(_Compact, frozen=True):
    replicas: int = 1


class ReplicaSetStatus(_Compact, frozen=True):
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    observed_generation: int = 0


class ReplicaSet(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    spec: ReplicaSetSpec = ReplicaSetSpec()
    status: ReplicaSetStatus = ReplicaSetStatus()


class DeploymentSpec(_Compact, frozen=True):
    replicas: int = 1
    paused: bool = False
    progress_deadline_seconds: int = 600


class DeploymentStatus(_Compact, frozen=True):
    observed_generation: int = 0
    replicas: int = 0
    updated_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    unavailable_replicas: int = 0
    conditions: tuple[Condition, ...] = ()


class Deployment(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    spec: DeploymentSpec = DeploymentSpec()
    status: DeploymentStatus = DeploymentStatus()


class ClaimTemplate(_Compact, frozen=True):
    metadata: ObjectMeta = ObjectMeta()


class StatefulSetSpec(_Compact, frozen=True):
    replicas: int = 1
    pod_management_policy: str = "OrderedReady"
    volume_claim_templates: tuple[ClaimTemplate, ...] = ()


class StatefulSetStatus(_Compact, frozen=True):
    observed_generation: int = 0
    replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    current_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""


class StatefulSet(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    spec: StatefulSetSpec = StatefulSetSpec()
    status: StatefulSetStatus = StatefulSetStatus()


class DaemonSetStatus(_Compact, frozen=True):
    observed_generation: int = 0
    desired_number_scheduled: int = 0
    current_number_scheduled: int = 0
    updated_number_scheduled: int = 0
    number_ready: int = 0
    number_available: int = 0
    number_unavailable: int = 0


class DaemonSet(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    status: DaemonSetStatus = DaemonSetStatus()


class JobSpec(_Compact, frozen=True):
    completions: int | None = None
    parallelism: int | None = None
    backoff_limit: int | None = None


class JobStatus(_Compact, frozen=True):
    active: int = 0
    succeeded: int = 0
    failed: int = 0
    start_time: str | None = None
    completion_time: str | None = None
    conditions: tuple[Condition, ...] = ()


class Job(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    spec: JobSpec = JobSpec()
    status: JobStatus = JobStatus()


class PersistentVolumeClaimSpec(_Compact, frozen=True):
    storage_class_name: str | None = None
    volume_name: str = ""


class PersistentVolumeClaimStatus(_Compact, frozen=True):
    phase: str = ""


class PersistentVolumeClaim(_Compact, frozen=True):
    metadata: WorkloadMeta = WorkloadMeta()
    spec: PersistentVolumeClaimSpec = PersistentVolumeClaimSpec()
    status: PersistentVolumeClaimStatus = PersistentVolumeClaimStatus()


class PersistentVolumeSpec(_Compact, frozen=True):
    claim_ref: ObjectReference | None = None
    storage_class_name: str = ""


class PersistentVolumeStatus(_Compact, frozen=True):
    phase: str = ""


class PersistentVolume(_Compact, frozen=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: PersistentVolumeSpec = PersistentVolumeSpec()
    status: PersistentVolumeStatus = PersistentVolumeStatus()


class Node(_Compact, frozen=True):
    metadata: ObjectMeta = ObjectMeta()


Snapshot = (
    Pod
    | Event
    | ReplicaSet
    | Deployment
    | StatefulSet
    | DaemonSet
    | Job
    | PersistentVolumeClaim
    | PersistentVolume
    | Node
)
