"""The API server's verbs over the store: validation, defaulting, metadata, graceful deletion.

The HTTP layer and the simulated control plane both write through here, so an
object looks the same whichever side created it. Errors are `ApiError`s.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from tracewatch.sim import objects
from tracewatch.sim.errors import ApiError, already_exists, bad_request, not_found
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.selectors import Selector
from tracewatch.sim.store import Key, ObjectStore, Stored
from tracewatch.sim.timestamps import NS_PER_S, now_ns, rfc3339
from tracewatch.sim.truth import GroundTruth

Mutation = Callable[[dict[str, Any]], None]
FieldsOf = Callable[[dict[str, Any]], dict[str, Any]]

_UNKNOWN_RESOURCE = "the server could not find the requested resource"


class Registry:
    """create / get / list / update / delete over an ObjectStore."""

    def __init__(self, *, store: ObjectStore, truth: GroundTruth, rng: random.Random) -> None:
        self.store = store
        self.truth = truth
        self.rng = rng

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
        self, resource: str, *, namespace: str | None, labels: Selector, fields: Selector
    ) -> bytes:
        """The whole List response, built from the stored bytes (items without kind/apiVersion)."""
        info = self.info(resource)
        prefix = info.item_prefix
        cut = len(prefix)
        items = [
            b"{" + s.data[cut:] if s.data.startswith(prefix) else s.data
            for s in self.store.items(resource, namespace=namespace if info.namespaced else None)
            if labels.matches(s.view) and fields.matches(s.view)
        ]
        head = (
            f'{{"kind":"{info.list_kind}","apiVersion":"{info.api_version}",'
            f'"metadata":{{"resourceVersion":"{self.store.rv}"}},"items":['
        ).encode()
        return head + b",".join(items) + b"]}"

    def create(
        self,
        resource: str,
        obj: dict[str, Any],
        *,
        namespace: str | None,
        manager: str,
        at_ns: int | None = None,
    ) -> Stored:
        """Validate, default, stamp metadata and store a new object; `obj` is taken over."""
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
            namespace = self._check_namespace(meta, namespace)
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
        self._validate(info, obj, name)
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
        uid = str(uuid.uuid4())
        meta["uid"] = uid
        if info.has_generation:
            meta["generation"] = 1
        meta["creationTimestamp"] = rfc3339(at)
        owned = {
            k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata", "status")
        }
        owned_meta = {k: meta[k] for k in ("labels", "annotations") if k in meta}
        if owned_meta:
            owned = {"metadata": owned_meta, **owned}
        meta["managedFields"] = [
            objects.managed_fields_entry(manager=manager, at_ns=at, fields=objects.fields_v1(owned))
        ]
        stored = self.store.put(resource, obj)
        if resource != "events":
            self.truth.register(uid=uid, resource=resource, namespace=namespace or "", name=name)
            self.truth.record(uid, "created", at)
        return stored

    def _check_namespace(self, meta: dict[str, Any], namespace: str | None) -> str:
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

    def _validate(self, info: ResourceInfo, obj: dict[str, Any], name: str) -> None:
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
        `uid`, the write applies only to that incarnation of the name.
        """
        info = self.info(resource)
        key = self.key(info, namespace=namespace, name=name)
        obj = self.store.copy(resource, key)
        if obj is None or (uid is not None and obj["metadata"].get("uid") != uid):
            return None
        mutate(obj)
        if fields is not None:
            objects.touch_managed_fields(
                obj["metadata"],
                manager=manager,
                at_ns=at_ns,
                fields=fields(obj),
                subresource=subresource,
            )
        return self.store.put(resource, obj)

    def delete(
        self,
        resource: str,
        *,
        namespace: str | None,
        name: str,
        grace_period_seconds: int | None = None,
        at_ns: int | None = None,
    ) -> Stored:
        """DELETE: a bound pod is deleted gracefully (its kubelet finishes the job); else at once.

        Returns the object as the response carries it: with `deletionTimestamp`
        when graceful, the last state when removed. Raises 404.
        """
        info = self.info(resource)
        if "delete" not in info.verbs:
            raise ApiError(
                code=405, message="the server does not allow this method on the requested resource"
            )
        stored = self.get(resource, namespace=namespace, name=name)
        at = now_ns() if at_ns is None else at_ns
        current = stored.obj
        meta, spec = current["metadata"], current.get("spec") or {}
        if grace_period_seconds is not None and grace_period_seconds < 0:
            raise bad_request("gracePeriodSeconds must be >= 0")
        if resource == "pods" and meta.get("deletionTimestamp"):
            return stored
        grace = grace_period_seconds
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30) if resource == "pods" else 0
        if resource != "pods" or grace == 0 or not spec.get("nodeName"):
            # No kubelet to wait for (or no grace asked): the object goes at once.
            removed = self.remove(resource, namespace=namespace, name=name, at_ns=at)
            if removed is None:
                raise not_found(resource=resource, name=name, group=info.group)
            return removed

        def mark(obj: dict[str, Any]) -> None:
            m = obj["metadata"]
            m["deletionTimestamp"] = rfc3339(at + grace * NS_PER_S)
            m["deletionGracePeriodSeconds"] = grace
            if m.get("generation"):
                m["generation"] += 1

        marked = self.update(
            resource, namespace=namespace, name=name, mutate=mark, manager="", at_ns=at
        )
        assert marked is not None
        self.truth.record(meta["uid"], "deletion_requested", at)
        return marked

    def remove(
        self, resource: str, *, namespace: str | None, name: str, at_ns: int, uid: str | None = None
    ) -> Stored | None:
        """Take the object out of the store now (the DELETED event); None if already gone.

        With `uid`, only that incarnation of the name is removed.
        """
        info = self.info(resource)
        key = self.key(info, namespace=namespace, name=name)
        current = self.store.get(resource, key)
        if current is None or (uid is not None and current.uid != uid):
            return None
        removed = self.store.remove(resource, key)
        if removed is not None and resource != "events":
            self.truth.record(removed.uid, "deleted", at_ns)
        return removed
