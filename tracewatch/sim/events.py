"""Events as the real components' recorders write them, seen through core/v1.

Two recorders exist in Kubernetes and both are visible to tracewatch:

- the legacy client-go recorder (kubelet): second-precision `firstTimestamp` /
  `lastTimestamp`, `count: 1`, `eventTime: null`, a `source`, and a name
  `<object>.<hex UnixNano>` from the emitting component's clock;
- the events.k8s.io/v1 recorder (scheduler): `eventTime` with microseconds,
  `firstTimestamp`/`lastTimestamp` null, `action`, empty `source`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from tracewatch.sim.objects import fields_v1
from tracewatch.sim.registry import Registry, owned_part
from tracewatch.sim.store import Stored
from tracewatch.sim.timestamps import event_name, micro_time, rfc3339


class Ref(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The object an event is about, at the resourceVersion the emitting component holds.

    A Struct: one is made for nearly every event and kubelet step, and a frozen
    dataclass's __init__ (object.__setattr__ per field) was a measurable share of that.
    """

    namespace: str
    name: str
    uid: str
    resource_version: str
    kind: str = "Pod"
    api_version: str = "v1"

    @classmethod
    def of(cls, stored: Stored, *, namespace: str, name: str, kind: str = "Pod") -> Ref:
        return cls(
            namespace=namespace,
            name=name,
            uid=stored.uid,
            resource_version=str(stored.rv),
            kind=kind,
        )

    def involved(self, *, field_path: str | None = None) -> dict[str, Any]:
        """The event's `involvedObject` (an ObjectReference, in the Go struct's key order)."""
        ref = {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "uid": self.uid,
            "apiVersion": self.api_version,
            "resourceVersion": self.resource_version,
        }
        if field_path:
            ref["fieldPath"] = field_path
        return ref


class EventRecorder:
    """Writes Events through the registry, as a component's recorder would."""

    def __init__(self, *, registry: Registry) -> None:
        self._registry = registry
        self._fields: dict[tuple[tuple[str, ...], ...], dict[str, Any]] = {}
        """An event's FieldsV1 set by its keys and its maps' keys (all else is scalar)."""

    def _create(self, event: dict[str, Any], *, about: Ref, at_ns: int, component: str) -> Stored:
        shape = (tuple(event), tuple(event["involvedObject"]), tuple(event["source"]))
        fields = self._fields.get(shape)
        if fields is None:
            fields = self._fields[shape] = fields_v1(owned_part(event))
        return self._registry.create(
            "events",
            event,
            namespace=about.namespace,
            manager=component,
            at_ns=at_ns,
            fields=fields,
        )

    def legacy(
        self,
        *,
        about: Ref,
        at_ns: int,
        reason: str,
        message: str,
        component: str,
        host: str,
        field_path: str | None = None,
        type_: str = "Normal",
    ) -> Stored:
        """A client-go (core/v1) event, e.g. the kubelet's Pulling/Pulled/Created/Started."""
        event = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": event_name(about.name, at_ns), "namespace": about.namespace},
            "involvedObject": about.involved(field_path=field_path),
            "reason": reason,
            "message": message,
            # Controllers' recorders have no host: Go omits the empty field.
            "source": {"component": component, "host": host} if host else {"component": component},
            "firstTimestamp": rfc3339(at_ns),
            "lastTimestamp": rfc3339(at_ns),
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        return self._create(event, about=about, at_ns=at_ns, component=component)

    def structured(
        self,
        *,
        about: Ref,
        at_ns: int,
        reason: str,
        action: str,
        message: str,
        component: str,
        instance: str,
        type_: str = "Normal",
    ) -> Stored:
        """An events.k8s.io/v1 event (e.g. the scheduler's Scheduled) as core/v1 shows it."""
        event = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {"name": event_name(about.name, at_ns), "namespace": about.namespace},
            "involvedObject": about.involved(),
            "reason": reason,
            "message": message,
            "source": {},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": type_,
            "eventTime": micro_time(at_ns),
            "action": action,
            "reportingComponent": component,
            "reportingInstance": instance,
        }
        return self._create(event, about=about, at_ns=at_ns, component=component)
