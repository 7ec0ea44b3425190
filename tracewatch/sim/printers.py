"""What `kubectl get` shows in each kind's row: the cells kube-apiserver's printers compute.

A port of the row functions of `pkg/printers/internalversion/printers.go` (v1.32)
for the kinds the simulator serves (workload kinds' rows are in
`tracewatch.sim.workload_printers`); their columns are in `tracewatch.sim.table_columns`.
The server always prints the wide form (its TableConvertor passes `Wide: true`),
so every row has a cell for every column; kubectl hides the columns of priority 1
unless `-o wide`. Ages are computed against the simulator's clock (`now_ns`), as
the real server's `translateTimestampSince` does against its own.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from tracewatch.sim.selectors import selector_string
from tracewatch.sim.timestamps import NS_PER_S

Obj = Mapping[str, Any]
Cells = list[Any]
RowConditions = list[dict[str, str]] | None
"""metav1.TableRowCondition list of a row (only pods have them: Completed)."""

# time


@functools.lru_cache(maxsize=4096)
def instant_ns(text: str | None) -> int | None:
    """A metav1.Time / MicroTime string as ns since the epoch; None if unset or unparseable."""
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


def human_duration(ns: int) -> str:
    """apimachinery's `duration.HumanDuration`: ~2-3 significant figures (`45s`, `3m2s`, `2d4h`)."""
    seconds = int(ns / NS_PER_S)  # Go's int(d.Seconds()) truncates toward zero
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{hours // 24 // 365}y"


def since(text: str | None, now_ns: int) -> str:
    """`translateTimestampSince`: the age of a timestamp, `<unknown>` when unset."""
    at = instant_ns(text)
    return "<unknown>" if at is None else human_duration(now_ns - at)


# formatting helpers shared by several kinds


def layout_containers(template: Obj) -> tuple[str, str]:
    """`layoutContainerCells`: a pod template's container names and images, comma-joined."""
    containers = ((template.get("spec") or {}).get("containers")) or ()
    names = ",".join(c.get("name", "") for c in containers)
    return names, ",".join(c.get("image", "") for c in containers)


def format_labels(labels: Mapping[str, str] | None) -> str:
    """`labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty."""
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(selector: Obj | None) -> str:
    """`metav1.FormatLabelSelector`: as `selector_string`, `<none>` when it is empty,
    `<error>` when it cannot be converted."""
    try:
        return selector_string(selector) or "<none>"
    except ValueError:
        return "<error>"


def condition_true(conditions: Iterable[Obj] | None, kind: str) -> bool:
    """Whether the first condition of this type is True (`hasJobCondition` and friends)."""
    for condition in conditions or ():
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False


def meta_of(obj: Obj) -> Obj:
    """The object's metadata ({} when it has none)."""
    return obj.get("metadata") or {}


# per kind (workload kinds: `tracewatch.sim.workload_printers`)


def _is_restartable(container: Obj | None) -> bool:
    return container is not None and container.get("restartPolicy") == "Always"


POD_SUCCEEDED = [
    {
        "type": "Completed",
        "status": "True",
        "reason": "Succeeded",
        "message": "The pod has completed successfully.",
    }
]
POD_FAILED = [
    {"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}
]


def pod_cells(pod: Obj, now_ns: int) -> tuple[Cells, RowConditions]:
    """`printPod`: READY, STATUS (the printer's reason rules), RESTARTS (with `(5m ago)`)."""
    spec, status, meta = pod.get("spec") or {}, pod.get("status") or {}, meta_of(pod)
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    conditions = status.get("conditions") or ()
    if any(
        c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conditions
    ):
        reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or ()}
    total = len(spec.get("containers") or ()) + sum(map(_is_restartable, init_specs.values()))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last_restart = 0

    def finished_at(cs: Obj) -> int:
        terminated = (cs.get("lastState") or {}).get("terminated")
        return (instant_ns(terminated.get("finishedAt")) or 0) if terminated else 0

    initializing = False
    init_statuses = status.get("initContainerStatuses") or ()
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        last_restart = max(last_restart, finished_at(cs))
        sidecar = _is_restartable(init_specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += cs.get("restartCount", 0)
            sidecar_last_restart = max(sidecar_last_restart, finished_at(cs))
        state = cs.get("state") or {}
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and cs.get("started"):
            ready += bool(cs.get("ready"))
            continue
        if terminated is not None:
            if terminated.get("reason"):
                reason = "Init:" + terminated["reason"]
            elif terminated.get("signal"):
                reason = f"Init:Signal:{terminated['signal']}"
            else:
                reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
        elif waiting is not None and waiting.get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or ())}"
        initializing = True
        break
    if not initializing or condition_true(conditions, "Initialized"):
        restarts, last_restart = sidecar_restarts, sidecar_last_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or ()):
            restarts += cs.get("restartCount", 0)
            last_restart = max(last_restart, finished_at(cs))
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated is not None:
                signal = terminated.get("signal")
                reason = (
                    f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
                )
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod with a container still running is not Completed (a sidecar-like main container).
        if reason == "Completed" and has_running:
            reason = "Running" if condition_true(conditions, "Ready") else "NotReady"
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({human_duration(now_ns - last_restart)} ago)"
    pod_ips = status.get("podIPs") or ()
    gates = spec.get("readinessGates") or ()
    readiness_gates = "<none>"
    if gates:
        by_type: dict[Any, Any] = {}
        for condition in conditions:
            by_type.setdefault(condition.get("type"), condition.get("status"))
        passed = sum(by_type.get(g.get("conditionType")) == "True" for g in gates)
        readiness_gates = f"{passed}/{len(gates)}"
    cells = [
        meta.get("name", ""),
        f"{ready}/{total}",
        reason,
        restarts_text,
        since(meta.get("creationTimestamp"), now_ns),
        (pod_ips[0].get("ip") if pod_ips else "") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        readiness_gates,
    ]
    row_conditions = {"Succeeded": POD_SUCCEEDED, "Failed": POD_FAILED}.get(phase)
    return cells, row_conditions


def _node_address(node: Obj, kind: str) -> str:
    for address in (node.get("status") or {}).get("addresses") or ():
        if address.get("type") == kind:
            return str(address.get("address", ""))
    return "<none>"


def node_cells(obj: Obj, now_ns: int) -> Cells:
    """`printNode`: STATUS (Ready/NotReady/Unknown, SchedulingDisabled), ROLES, VERSION."""
    status, meta = obj.get("status") or {}, meta_of(obj)
    ready = [c for c in status.get("conditions") or () if c.get("type") == "Ready"]
    states = [
        ("Ready" if ready[-1].get("status") == "True" else "NotReady") if ready else "Unknown"
    ]
    if (obj.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = set()
    for key, value in (meta.get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/") and len(key) > len(
            "node-role.kubernetes.io/"
        ):
            roles.add(key.removeprefix("node-role.kubernetes.io/"))
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    info = status.get("nodeInfo") or {}
    return [
        meta.get("name", ""),
        ",".join(states),
        ",".join(sorted(roles)) or "<none>",
        since(meta.get("creationTimestamp"), now_ns),
        info.get("kubeletVersion", ""),
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def namespace_cells(obj: Obj, now_ns: int) -> Cells:
    """`printNamespace`: STATUS is the phase."""
    meta = meta_of(obj)
    phase = (obj.get("status") or {}).get("phase", "")
    return [meta.get("name", ""), phase, since(meta.get("creationTimestamp"), now_ns)]


def event_cells(obj: Obj, now_ns: int) -> Cells:
    """`printEvent` (wide): LAST SEEN, TYPE, REASON, OBJECT, ..., MESSAGE, FIRST SEEN, COUNT."""
    meta, involved = meta_of(obj), obj.get("involvedObject") or {}
    first_seen = (
        since(obj["firstTimestamp"], now_ns)
        if obj.get("firstTimestamp")
        else since(obj.get("eventTime"), now_ns)
    )
    last_seen = since(obj["lastTimestamp"], now_ns) if obj.get("lastTimestamp") else first_seen
    count = obj.get("count") or 1  # singleton events carry no count in the events.k8s.io API
    series = obj.get("series")
    if series is not None:
        last_seen = since(series.get("lastObservedTime"), now_ns)
        count = series.get("count", 0)
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    source = obj.get("source") or {}
    component = source.get("component") or obj.get("reportingComponent") or ""
    host = source.get("host") or obj.get("reportingInstance") or ""
    return [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {host}" if host else component,
        str(obj.get("message", "")).strip(),
        first_seen,
        count,
        meta.get("name", ""),
    ]


_ACCESS_MODES = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def access_modes(modes: Iterable[str] | None) -> str:
    """`GetAccessModesAsString`: the short names, deduplicated, in the API's fixed order."""
    present = set(modes or ())
    return ",".join(short for mode, short in _ACCESS_MODES if mode in present)


_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def _storage_class(obj: Obj) -> str:
    annotations = meta_of(obj).get("annotations") or {}
    if _CLASS_ANNOTATION in annotations:
        return str(annotations[_CLASS_ANNOTATION])
    return str((obj.get("spec") or {}).get("storageClassName") or "")


def persistentvolume_cells(obj: Obj, now_ns: int) -> Cells:
    """`printPersistentVolume`: CAPACITY, ACCESS MODES, RECLAIM POLICY, STATUS, CLAIM, ..."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    claim = spec.get("claimRef")
    return [
        meta.get("name", ""),
        (spec.get("capacity") or {}).get("storage", "0"),
        access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        "Terminating" if meta.get("deletionTimestamp") else status.get("phase", ""),
        f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else "",
        _storage_class(obj),
        spec.get("volumeAttributesClassName") or "<unset>",
        status.get("reason", ""),
        since(meta.get("creationTimestamp"), now_ns),
        spec.get("volumeMode") or "<unset>",
    ]


def persistentvolumeclaim_cells(obj: Obj, now_ns: int) -> Cells:
    """`printPersistentVolumeClaim`: STATUS, VOLUME, and CAPACITY/ACCESS MODES once bound."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    volume = spec.get("volumeName", "")
    capacity = (status.get("capacity") or {}).get("storage", "0") if volume else ""
    return [
        meta.get("name", ""),
        "Terminating" if meta.get("deletionTimestamp") else status.get("phase", ""),
        volume,
        capacity,
        access_modes(status.get("accessModes")) if volume else "",
        _storage_class(obj),
        spec.get("volumeAttributesClassName") or "<unset>",
        since(meta.get("creationTimestamp"), now_ns),
        spec.get("volumeMode") or "<unset>",
    ]


def lease_cells(obj: Obj, now_ns: int) -> Cells:
    """`printLease`: HOLDER."""
    meta = meta_of(obj)
    holder = (obj.get("spec") or {}).get("holderIdentity") or ""
    return [meta.get("name", ""), holder, since(meta.get("creationTimestamp"), now_ns)]


def controllerrevision_cells(obj: Obj, now_ns: int) -> Cells:
    """`printControllerRevision`: CONTROLLER (`kind.group/name` of the controller), REVISION."""
    meta = meta_of(obj)
    controller = "<none>"
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            group = str(ref.get("apiVersion", "")).rpartition("/")[0]
            kind = f"{ref.get('kind', '')}.{group}" if group else ref.get("kind", "")
            controller = f"{kind.lower()}/{ref.get('name', '')}"
            break
    age = since(meta.get("creationTimestamp"), now_ns)
    return [meta.get("name", ""), controller, obj.get("revision", 0), age]
