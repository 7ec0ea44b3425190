"""The API server's verbs over the store: validation, defaulting, metadata, graceful deletion.

The HTTP layer and the simulated control plane both write through here, so an
object looks the same whichever side created it. Errors are `ApiError`s.

In-process API for the control plane (controllers call these; nothing here awaits):

- `create(resource, obj, *, namespace, manager, at_ns=None) -> Stored`: uid,
  creationTimestamp, generation 1 (kinds that have one), managedFields; 409 if taken.
- `get(resource, *, namespace, name) -> Stored` (404), `Stored.obj` decodes a private copy
  (`Stored.draft()` a cheaper one, for writes);
  `list_objects(resource, *, namespace=None, label_selector=None) -> list[dict]`.
- `update(resource, *, namespace, name, mutate, manager, at_ns, subresource=None,
  fields=None, uid=None) -> Stored | None`: `mutate(obj)` on a private copy, then stored.
  With `subresource=None`, `metadata.generation` is bumped iff `spec` changed; uid and
  creationTimestamp are kept whatever `mutate` does. The caller is trusted to touch only
  what its subresource owns ("binding": no generation bump); with "status" the stored spec
  is kept whatever `mutate` does, as the real status strategies keep it. `fields(obj)` gives
  the FieldsV1 recorded under `manager` in managedFields. None if the object is gone (or is
  another incarnation than `uid`).
- `update_status(resource, *, namespace, name, mutate, manager, at_ns=None, uid=None)`:
  the /status write: only `.status` of the mutated copy is kept, recorded as subresource
  "status"; never bumps generation.
- `replace(...)` / `patch(...)`: the HTTP PUT / PATCH semantics (resourceVersion
  preconditions -> 409 Conflict, server-owned metadata kept, status ignored on the main
  resource of kinds with a status subresource, `/scale` writes only `spec.replicas`).
- `delete(resource, *, namespace, name, grace_period_seconds=None,
  propagation_policy=None, preconditions=None, at_ns=None) -> Stored`: Foreground adds the
  `foregroundDeletion` finalizer, Orphan (and no policy on a batch/v1 Job) the `orphan`
  finalizer, as the real server does; an object with finalizers gets `deletionTimestamp`
  and `deletionGracePeriodSeconds: 0` and stays. The policy is recorded in
  `deletion_policies[uid]`. Removing the last finalizer of such an object (any write, e.g.
  `remove_finalizer`) deletes it: a MODIFIED then a DELETED event, as on the real server.
- `remove(...)`: the final removal (grace 0), finalizer-aware; `remove_finalizer(...)`.
- Change notification: `store.listen(resource, listener)` (synchronous, after each write;
  see `tracewatch.sim.store.Listener`) and `store.unlisten`.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Callable
from typing import Any

import orjson

from tracewatch.sim import defaults, deletion, objects, replacing, scaling
from tracewatch.sim.errors import ApiError, already_exists, bad_request, not_found
from tracewatch.sim.paging import Snapshots, decode_continue, encode_continue
from tracewatch.sim.replacing import awaiting_finalizers
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.selectors import Selector, parse_label_selector
from tracewatch.sim.storageclasses import DEFAULT_STORAGE_CLASSES, StorageClass, admit_claim
from tracewatch.sim.store import Key, ObjectStore, Stored
from tracewatch.sim.timestamps import now_ns, rfc3339
from tracewatch.sim.truth import GroundTruth
from tracewatch.sim.uids import new_uid

Mutation = Callable[[dict[str, Any]], None]
FieldsOf = Callable[[dict[str, Any]], dict[str, Any]]


def owned_part(obj: dict[str, Any]) -> dict[str, Any]:
    """What the creator of `obj` set and so manages: all but server-owned metadata and status."""
    owned = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata", "status")}
    meta = obj.get("metadata") or {}
    owned_meta = {k: meta[k] for k in ("labels", "annotations") if k in meta}
    return {"metadata": owned_meta, **owned} if owned_meta else owned


_UNKNOWN_RESOURCE = "the server could not find the requested resource"


class Registry:
    """create / get / list / update / delete over an ObjectStore."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        truth: GroundTruth,
        rng: random.Random,
        storage_classes: tuple[StorageClass, ...] = DEFAULT_STORAGE_CLASSES,
    ) -> None:
        self.store = store
        self.storage_classes = storage_classes
        self.truth = truth
        self.rng = rng
        self.snapshots = Snapshots()
        self.deletion_policies: dict[str, str] = {}
        """The propagationPolicy of each deletion, by object uid (the GC reads finalizers)."""

    def info(self, resource: str) -> ResourceInfo:
        """The served resource, or a 404 like the real server's for an unknown path."""
        info = self.store.resources.get(resource)
        if info is None:
            raise ApiError(code=404, message=_UNKNOWN_RESOURCE, details={})
        return info

    def key(self, info: ResourceInfo, *, namespace: str | None, name: str) -> Key:
        return (namespace or "" if info.namespaced else "", name)

    def get(self, resource: str, *, namespace: str | None, name: str) -> Stored:
        """The stored object; raises 404."""
        info = self.info(resource)
        stored = self.store.get(resource, self.key(info, namespace=namespace, name=name))
        if stored is None:
            raise not_found(resource=resource, name=name, group=info.group)
        return stored

    def list_body(
        self,
        resource: str,
        *,
        namespace: str | None,
        labels: Selector,
        fields: Selector,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> bytes:
        """The List response, built from the stored bytes (items without kind/apiVersion).

        With `limit`, at most that many items and, if more remain, `metadata.continue`
        (and `remainingItemCount` when no selector filters); every page of one paged
        list comes from the first page's snapshot and carries its resourceVersion.
        An evicted snapshot is 410 Expired; a garbled token 400.
        """
        info = self.info(resource)
        prefix = info.item_prefix
        cut = len(prefix)
        scope = namespace if info.namespaced else None
        list_meta = ""
        if not limit and not continue_token:
            rv = self.store.rv
            chosen = [
                s
                for s in self.store.items(resource, namespace=scope)
                if labels.matches(s.view) and fields.matches(s.view)
            ]
        else:
            if continue_token:
                rv, last = decode_continue(continue_token, namespaced=info.namespaced)
                snapshot = self.snapshots.find((resource, scope, rv))
                position = bisect.bisect_right(snapshot, last, key=lambda kv: kv[0])
            else:
                rv, snapshot, position = (
                    self.store.rv,
                    self.store.keyed(resource, namespace=scope),
                    0,
                )
            chosen = []
            while position < len(snapshot) and (not limit or len(chosen) < limit):
                stored = snapshot[position][1]
                position += 1
                if labels.matches(stored.view) and fields.matches(stored.view):
                    chosen.append(stored)
            if position < len(snapshot):
                self.snapshots.keep((resource, scope, rv), snapshot)
                token = encode_continue(
                    rv=rv, last=snapshot[position - 1][0], namespaced=info.namespaced
                )
                list_meta = f',"continue":"{token}"'
                if labels.empty and fields.empty:
                    list_meta += f',"remainingItemCount":{len(snapshot) - position}'
        items = [b"{" + s.data[cut:] if s.data.startswith(prefix) else s.data for s in chosen]
        head = (
            f'{{"kind":"{info.list_kind}","apiVersion":"{info.api_version}",'
            f'"metadata":{{"resourceVersion":"{rv}"{list_meta}}},"items":['
        ).encode()
        return head + b",".join(items) + b"]}"

    def list_objects(
        self, resource: str, *, namespace: str | None = None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        """Private copies of the objects (of one namespace, matching a label selector string)."""
        labels = parse_label_selector(label_selector)
        return [
            s.obj for s in self.store.items(resource, namespace=namespace) if labels.matches(s.view)
        ]

    def create(
        self,
        resource: str,
        obj: dict[str, Any],
        *,
        namespace: str | None,
        manager: str,
        at_ns: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Stored:
        """Validate, default, stamp metadata and store a new object; `obj` is taken over.

        `fields` is the FieldsV1 set of what the writer set, if it knows it (a
        component writing the same shape each time keeps its own); it is worked
        out from `obj` otherwise.
        """
        info = self.info(resource)
        if "create" not in info.verbs:
            raise ApiError(
                code=405, message="the server does not allow this method on the requested resource"
            )
        if not isinstance(obj, dict):
            raise bad_request("the body of the request must be a JSON object")
        if obj.get("kind") not in (None, info.kind):
            raise bad_request(
                f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
                f"({info.kind})"
            )
        at = now_ns() if at_ns is None else at_ns
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if info.namespaced:
            namespace = self.namespace_for_create(meta, namespace)
        else:
            meta.pop("namespace", None)
        name = meta.get("name") or ""
        if not name and meta.get("generateName"):
            name = meta["generateName"] + objects.random_suffix(self.rng)
        if not name:
            raise ApiError(
                code=422,
                message=f'{info.kind} "" is invalid: metadata.name: Required value: '
                "name or generateName is required",
                details={"kind": info.kind},
            )
        self.validate(info, obj, name)
        key = self.key(info, namespace=namespace, name=name)
        if self.store.get(resource, key) is not None:
            raise already_exists(resource=resource, name=name, group=info.group)
        for server_owned in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "managedFields",
            "selfLink",
        ):
            meta.pop(server_owned, None)
        meta["name"] = name
        if info.namespaced:
            meta["namespace"] = namespace
        if resource == "pods":
            objects.default_pod(obj, rng=self.rng)
        elif resource == "namespaces":
            objects.default_namespace(obj)
        elif resource == "persistentvolumeclaims":
            admit_claim(obj, self.storage_classes)
        uid = new_uid()
        meta["uid"] = uid
        meta["resourceVersion"] = ""  # the store stamps it; here it stands in its Go struct place
        if info.has_generation:
            meta["generation"] = 1
        meta["creationTimestamp"] = rfc3339(at)
        defaults.apply_defaults(resource, obj)
        if fields is None:
            fields = objects.fields_v1(owned_part(obj))
        meta["managedFields"] = [
            objects.managed_fields_entry(
                manager=manager, at_ns=at, fields=fields, api_version=info.api_version
            )
        ]
        stored = self.store.put(resource, obj)
        if resource != "events":
            self.truth.register(uid=uid, resource=resource, namespace=namespace or "", name=name)
            self.truth.record(uid, "created", at)
        return stored

    def namespace_for_create(self, meta: dict[str, Any], namespace: str | None) -> str:
        """The namespace a create of an object with metadata `meta` goes to (the request's,
        else its own, else "default"); 400 if the two differ, 404 if it does not exist."""
        given = meta.get("namespace")
        if namespace and given and given != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        namespace = namespace or given or "default"
        if self.store.get("namespaces", ("", namespace)) is None:
            raise not_found(resource="namespaces", name=namespace)
        return namespace

    def validate(self, info: ResourceInfo, obj: dict[str, Any], name: str) -> None:
        if info.name != "pods":
            return
        containers = (obj.get("spec") or {}).get("containers")
        problems = []
        if not containers:
            problems.append("spec.containers: Required value")
        for i, c in enumerate(containers or ()):
            if not isinstance(c, dict) or not c.get("name"):
                problems.append(f"spec.containers[{i}].name: Required value")
            elif not c.get("image"):
                problems.append(f"spec.containers[{i}].image: Required value")
        if problems:
            raise ApiError(
                code=422,
                message=f'Pod "{name}" is invalid: {", ".join(problems)}',
                details={"name": name, "kind": "Pod"},
            )

    def update(
        self,
        resource: str,
        *,
        namespace: str | None,
        name: str,
        mutate: Mutation,
        manager: str,
        at_ns: int,
        subresource: str | None = None,
        fields: FieldsOf | None = None,
        uid: str | None = None,
    ) -> Stored | None:
        """Apply `mutate` to a private copy and store it; None if the object is gone.

        `fields(obj)` gives the FieldsV1 set the write touched, recorded in
        managedFields under `manager` (and `subresource`, e.g. "status"). With
        `uid`, the write applies only to that incarnation of the name. A write to
        the main resource (`subresource=None`) that changes `spec` bumps
        `metadata.generation`, as the real strategies do. `mutate` keeps no reference into
        `obj` and puts in it only what JSON decodes to (a pod's /status write hands it on).
        """
        info = self.info(resource)
        key = self.key(info, namespace=namespace, name=name)
        current = self.store.get(resource, key)
        if current is None or (uid is not None and current.uid != uid):
            return None
        entries = fields is not None
        return self.update_drafted(
            info,
            key,
            current,
            # A pod's /status write leaves spec encoded: its listeners read only metadata
            # and status there (see `Listener`), and the stored spec is kept anyway.
            self.store.draft(
                current, entries=entries, status=subresource == "status" and resource == "pods"
            ),
            mutate=mutate,
            manager=manager,
            at_ns=at_ns,
            subresource=subresource,
            fields=fields,
        )

    def update_drafted(
        self,
        info: ResourceInfo,
        key: Key,
        current: Stored,
        obj: dict[str, Any],
        *,
        mutate: Mutation,
        manager: str,
        at_ns: int,
        subresource: str | None,
        fields: FieldsOf | None,
    ) -> Stored:
        """`update` once the current object is found and decoded (`obj`, a private copy)."""
        resource = info.name
        meta = obj["metadata"]
        created = meta.get("creationTimestamp")
        finalizing = awaiting_finalizers(meta)
        spec_before = (
            orjson.dumps(obj.get("spec")) if info.has_generation and subresource is None else None
        )
        mutate(obj)
        meta = obj["metadata"]
        meta["uid"], meta["creationTimestamp"] = current.uid, created
        if spec_before is not None and orjson.dumps(obj.get("spec")) != spec_before:
            meta["generation"] = int(meta.get("generation") or 0) + 1
        if fields is not None:
            objects.touch_managed_fields(
                meta,
                manager=manager,
                at_ns=at_ns,
                fields=fields(obj),
                subresource=subresource,
                api_version=info.api_version,
            )
        if subresource == "status":
            return self.store.put_status(resource, key, current, obj, hand_on=resource == "pods")
        return self.commit(resource, key, obj, finalizing=finalizing, at_ns=at_ns)

    def commit(
        self, resource: str, key: Key, obj: dict[str, Any], *, finalizing: bool, at_ns: int
    ) -> Stored:
        """Store the write; if it removed the last finalizer of a deleted object, delete it."""
        stored = self.store.put(resource, obj)
        if finalizing and not obj["metadata"].get("finalizers"):
            removed = self.store.remove(resource, key)
            if removed is not None:
                if resource != "events":
                    self.truth.record(removed.uid, "deleted", at_ns)
                return removed
        return stored

    def update_status(
        self,
        resource: str,
        *,
        namespace: str | None,
        name: str,
        mutate: Mutation,
        manager: str,
        at_ns: int | None = None,
        uid: str | None = None,
    ) -> Stored | None:
        """A /status write: `mutate(obj)` on a copy, of which only `.status` is kept.

        Recorded in managedFields as subresource "status"; generation never moves.
        None if the object is gone (or is another incarnation than `uid`).
        """
        info = self.info(resource)
        key = self.key(info, namespace=namespace, name=name)
        current = self.store.get(resource, key)
        if current is None or (uid is not None and current.uid != uid):
            return None
        at = now_ns() if at_ns is None else at_ns
        scratch = current.obj
        mutate(scratch)
        obj = current.draft()
        obj["status"] = scratch.get("status") or {}
        objects.touch_managed_fields(
            obj["metadata"],
            manager=manager,
            at_ns=at,
            fields=objects.fields_v1({"status": obj["status"]}),
            subresource="status",
            api_version=info.api_version,
        )
        return self.store.put_status(resource, key, current, obj)

    def replace(
        self,
        resource: str,
        obj: dict[str, Any],
        *,
        namespace: str | None,
        name: str,
        manager: str,
        subresource: str | None = None,
        at_ns: int | None = None,
    ) -> Stored:
        """PUT (see `tracewatch.sim.replacing.replace`); raises 400, 404, 405, 409, 422."""
        return replacing.replace(
            self,
            resource,
            obj,
            namespace=namespace,
            name=name,
            manager=manager,
            subresource=subresource,
            at_ns=at_ns,
        )

    def patch(
        self,
        resource: str,
        body: bytes,
        *,
        patch_type: str,
        namespace: str | None,
        name: str,
        manager: str,
        subresource: str | None = None,
        at_ns: int | None = None,
    ) -> Stored:
        """PATCH (see `tracewatch.sim.replacing.patch`); raises 400, 404, 409, 415, 422."""
        return replacing.patch(
            self,
            resource,
            body,
            patch_type=patch_type,
            namespace=namespace,
            name=name,
            manager=manager,
            subresource=subresource,
            at_ns=at_ns,
        )

    def scale(self, resource: str, *, namespace: str | None, name: str) -> dict[str, Any]:
        """The autoscaling/v1 Scale of a deployment, replicaset or statefulset (404 otherwise)."""
        self.check_subresource(self.info(resource), "scale")
        return scaling.scale_of(self.get(resource, namespace=namespace, name=name).obj)

    @staticmethod
    def check_subresource(info: ResourceInfo, subresource: str | None) -> None:
        if subresource is not None and subresource not in info.subresources:
            raise ApiError(code=404, message=_UNKNOWN_RESOURCE)

    def delete(
        self,
        resource: str,
        *,
        namespace: str | None,
        name: str,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict[str, Any] | None = None,
        at_ns: int | None = None,
    ) -> Stored:
        """DELETE (see `tracewatch.sim.deletion.delete`); raises 400, 404, 405, 409, 422."""
        return deletion.delete(
            self,
            resource,
            namespace=namespace,
            name=name,
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            preconditions=preconditions,
            at_ns=at_ns,
        )

    def remove(
        self, resource: str, *, namespace: str | None, name: str, at_ns: int, uid: str | None = None
    ) -> Stored | None:
        """Take the object out of the store now (the DELETED event); None if already gone.

        With `uid`, only that incarnation of the name is removed. An object with
        finalizers is not removed but marked (deletionTimestamp, grace 0) and
        returned: it goes when its last finalizer does.
        """
        info = self.info(resource)
        key = self.key(info, namespace=namespace, name=name)
        current = self.store.get(resource, key)
        if current is None or (uid is not None and current.uid != uid):
            return None
        # Only an object that names finalizers needs decoding (the common case does not).
        obj = current.draft(entries=False) if b'"finalizers"' in current.data else {"metadata": {}}
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if awaiting_finalizers(meta):
                return current
            meta.setdefault("deletionTimestamp", rfc3339(at_ns))
            meta["deletionGracePeriodSeconds"] = 0
            return self.store.put(resource, obj)
        removed = self.store.remove(resource, key)
        if removed is not None and resource != "events":
            self.truth.record(removed.uid, "deleted", at_ns)
        return removed

    def remove_finalizer(
        self,
        resource: str,
        *,
        namespace: str | None,
        name: str,
        finalizer: str,
        manager: str,
        at_ns: int | None = None,
        uid: str | None = None,
    ) -> Stored | None:
        """Drop one finalizer; if it was the last of a deleted object, the object goes.

        Returns the stored (or, when deleted, the final) state; None if the object
        is gone or another incarnation than `uid`.
        """

        def drop(obj: dict[str, Any]) -> None:
            remaining = [f for f in obj["metadata"].get("finalizers") or () if f != finalizer]
            if remaining:
                obj["metadata"]["finalizers"] = remaining
            else:
                obj["metadata"].pop("finalizers", None)

        at = now_ns() if at_ns is None else at_ns
        return self.update(
            resource,
            namespace=namespace,
            name=name,
            mutate=drop,
            manager=manager,
            at_ns=at,
            uid=uid,
            fields=lambda obj: {"f:metadata": {"f:finalizers": {}}},
        )
