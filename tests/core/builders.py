"""Hand-made pod snapshots and Events, shaped like what the API server and kubelet write."""

from __future__ import annotations

from typing import Any

import msgspec

from tracewatch.core.clock import SECOND_NS, format_timestamp_ns
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Event, Pod

T0 = 1_700_000_000 * SECOND_NS  # a whole second
UID = "6a799bf5-9705-11e9-a3c5-025000000001"


def ts(ns: int) -> str:
    """A second-precision API timestamp for the instant ns (truncated, as the server does)."""
    return format_timestamp_ns(ns - ns % SECOND_NS)[:19] + "Z"


def micro(ns: int) -> str:
    return format_timestamp_ns(ns - ns % 1000)[:26] + "Z"


class PodStory:
    """Builds successive snapshots of one pod; each method returns the new snapshot's dict."""

    def __init__(
        self,
        *,
        created_ns: int,
        uid: str = UID,
        name: str = "web-1",
        containers: tuple[tuple[str, str], ...] = (("app", "nginx:1.25"),),
        node: str = "",
    ) -> None:
        self.obj: dict[str, Any] = {
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": uid,
                "resourceVersion": "1",
                "creationTimestamp": ts(created_ns),
            },
            "spec": {
                "nodeName": node,
                "containers": [{"name": n, "image": i} for n, i in containers],
            },
            "status": {"phase": "Pending", "conditions": []},
        }
        self._rv = 1

    def _bump(self) -> Pod:
        self._rv += 1
        self.obj["metadata"]["resourceVersion"] = str(self._rv)
        return self.snapshot()

    def snapshot(self) -> Pod:
        return msgspec.convert(self.obj, Pod)

    def condition(self, kind: str, at_ns: int, status: str = "True") -> Pod:
        conds = [c for c in self.obj["status"]["conditions"] if c["type"] != kind]
        conds.append({"type": kind, "status": status, "lastTransitionTime": ts(at_ns)})
        self.obj["status"]["conditions"] = conds
        return self._bump()

    def schedule(self, at_ns: int, node: str = "node-1") -> Pod:
        self.obj["spec"]["nodeName"] = node
        return self.condition("PodScheduled", at_ns)

    def started(self, name: str, at_ns: int) -> Pod:
        statuses = [s for s in self.obj["status"].get("containerStatuses", []) if s["name"] != name]
        statuses.append(
            {
                "name": name,
                "ready": False,
                "started": True,
                "state": {"running": {"startedAt": ts(at_ns)}},
            }
        )
        self.obj["status"]["containerStatuses"] = statuses
        self.obj["status"]["phase"] = "Running"
        return self._bump()

    def waiting(self, name: str, reason: str) -> Pod:
        self.obj["status"]["containerStatuses"] = [
            {"name": name, "ready": False, "state": {"waiting": {"reason": reason}}}
        ]
        return self._bump()

    def phase(self, phase: str) -> Pod:
        self.obj["status"]["phase"] = phase
        return self._bump()


def kubelet_event(
    *,
    pod_name: str = "web-1",
    uid: str = UID,
    reason: str,
    message: str = "",
    container: str = "app",
    at_ns: int,
    count: int = 1,
) -> Event:
    """A legacy-recorder Event: named after the emitter's UnixNano, second-precision timestamps."""
    return msgspec.convert(
        {
            "metadata": {"name": f"{pod_name}.{at_ns:x}", "namespace": "default"},
            "involvedObject": {
                "kind": "Pod",
                "name": pod_name,
                "namespace": "default",
                "uid": uid,
                "fieldPath": f"spec.containers{{{container}}}",
            },
            "reason": reason,
            "message": message,
            "type": "Normal",
            "count": count,
            "firstTimestamp": ts(at_ns),
            "lastTimestamp": ts(at_ns),
            "source": {"component": "kubelet", "host": "node-1"},
        },
        Event,
    )


def scheduler_event(
    *,
    pod_name: str = "web-1",
    uid: str = UID,
    reason: str = "Scheduled",
    message: str = "Successfully assigned default/web-1 to node-1",
    at_ns: int,
) -> Event:
    """An events.k8s.io-style Event as seen through core/v1: eventTime, no firstTimestamp."""
    return msgspec.convert(
        {
            "metadata": {"name": f"{pod_name}.{at_ns:x}", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": pod_name, "namespace": "default", "uid": uid},
            "reason": reason,
            "message": message,
            "type": "Normal",
            "eventTime": micro(at_ns),
            "reportingComponent": "default-scheduler",
            "action": "Binding",
        },
        Event,
    )


def obs(at_ns: int, obj: Pod | Event, change: Change = Change.MODIFIED) -> Observation:
    resource = "pods" if isinstance(obj, Pod) else "events"
    return Observation(observed_at_ns=at_ns, change=change, resource=resource, obj=obj)


MS = 1_000_000


def meta(
    name: str,
    uid: str,
    *,
    created_ns: int,
    generation: int = 1,
    owner: tuple[str, str, str] | None = None,
    annotations: dict[str, str] | None = None,
    spec_written_ns: int | None = None,
    manager: str = "kubectl",
    status_written_ns: int | None = None,
    deletion_ns: int | None = None,
    grace: int | None = None,
) -> dict[str, Any]:
    """ObjectMeta as the API server writes it; owner is (kind, name, uid)."""
    out: dict[str, Any] = {
        "name": name,
        "namespace": "default",
        "uid": uid,
        "generation": generation,
        "creationTimestamp": ts(created_ns),
        "resourceVersion": "1",
    }
    if owner:
        out["ownerReferences"] = [
            {"kind": owner[0], "name": owner[1], "uid": owner[2], "controller": True}
        ]
    if annotations:
        out["annotations"] = annotations
    fields = [
        {"manager": manager, "operation": "Update", "time": ts(spec_written_ns or created_ns)}
    ]
    if status_written_ns is not None:
        fields.append(
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "time": ts(status_written_ns),
            }
        )
    out["managedFields"] = fields
    if deletion_ns is not None:
        out["deletionTimestamp"] = ts(deletion_ns)
        out["deletionGracePeriodSeconds"] = grace or 0
    return out


def snapshot(kind: type, obj: dict[str, Any]) -> Any:
    return msgspec.convert(obj, kind)


def workload_obs(at_ns: int, obj: Any, change: Change = Change.MODIFIED) -> Observation:
    resource = type(obj).__name__.lower() + "s"
    return Observation(observed_at_ns=at_ns, change=change, resource=resource, obj=obj)
