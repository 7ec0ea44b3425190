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
import orjson

from tracewatch.sim.errors import already_exists
from tracewatch.sim.objects import fields_v1
from tracewatch.sim.registry import Registry, owned_part
from tracewatch.sim.store import Stored
from tracewatch.sim.timestamps import event_name, micro_time, rfc3339
from tracewatch.sim.uids import new_uid


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


# An Event's bytes around its resourceVersion: metadata as the real server stamps a create,
# keys in the Go struct's order, then the body.
_HEAD = b'{"kind":"Event","apiVersion":"v1","metadata":{"name":%b,"namespace":%b,"uid":"%b",' \
    b'"resourceVersion":"'
_TAIL = b'","creationTimestamp":"%b","managedFields":[{"manager":%b,"operation":"Update",' \
    b'"apiVersion":"v1","time":"%b","fieldsType":"FieldsV1","fieldsV1":%b}]},%b'


class EventRecorder:
    """Writes Events as a component's recorder would: created, never updated here.

    Events are most of the simulator's writes (five per pod started), always of a
    few fixed shapes and always well formed, so they are spelled out as bytes here
    rather than taken through `Registry.create`'s validation, defaulting and key
    ordering; tests/sim/test_event_recorder.py holds the two to the same bytes.
    """

    def __init__(self, *, registry: Registry) -> None:
        self._registry = registry
        self._store = registry.store
        self._fields: dict[tuple[tuple[str, ...], ...], bytes] = {}
        """An event's FieldsV1 set, encoded, by its keys and its maps' keys (all else is scalar)."""

    def _create(self, body: dict[str, Any], *, about: Ref, at_ns: int, component: str) -> Stored:
        """Store an Event of `body` (all but kind, apiVersion, metadata), created at `at_ns`."""
        store, name = self._store, event_name(about.name, at_ns)
        namespace = self._registry.namespace_for_create({}, about.namespace)
        key = (namespace, name)
        if store.get("events", key) is not None:
            raise already_exists(resource="events", name=name)
        shape = (tuple(body), tuple(body["involvedObject"]), tuple(body["source"]))
        fields = self._fields.get(shape)
        if fields is None:
            fields = self._fields[shape] = orjson.dumps(fields_v1(owned_part(body)))
        uid, at = new_uid(), rfc3339(at_ns).encode()
        head = _HEAD % (orjson.dumps(name), orjson.dumps(namespace), uid.encode())
        tail = _TAIL % (at, orjson.dumps(component), at, fields, orjson.dumps(body)[1:])
        return store.put_new("events", key, uid, lambda rv: b"%b%d%b" % (head, rv, tail))

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
        at = rfc3339(at_ns)
        body = {
            "involvedObject": about.involved(field_path=field_path),
            "reason": reason,
            "message": message,
            # Controllers' recorders have no host: Go omits the empty field.
            "source": {"component": component, "host": host} if host else {"component": component},
            "firstTimestamp": at,
            "lastTimestamp": at,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        return self._create(body, about=about, at_ns=at_ns, component=component)

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
        body = {
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
        return self._create(body, about=about, at_ns=at_ns, component=component)
