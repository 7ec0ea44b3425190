"""PUT and PATCH semantics over the registry: preconditions, server-owned fields, subresources.

`replace` is the real server's update: a stale `metadata.resourceVersion` or a
different `uid` is a 409 Conflict; uid, creationTimestamp, generation, deletion
fields and managedFields stay the server's; on the main resource of a kind with
a status subresource `status` is kept as stored, on `/status` only `status` is
taken, on `/scale` only `spec.replicas`. `patch` applies a patch document to the
stored object (or its Scale) and replaces with the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import yaml

from tracewatch.sim import objects, patching, scaling
from tracewatch.sim.errors import (
    ApiError,
    bad_request,
    conflict,
    invalid,
    method_not_allowed,
    precondition_failed,
)
from tracewatch.sim.timestamps import now_ns

if TYPE_CHECKING:
    from tracewatch.sim.registry import Registry
    from tracewatch.sim.store import Stored

SERVER_OWNED = (
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "managedFields",
)
"""Metadata a PUT or PATCH cannot change (the server keeps the stored values)."""


def awaiting_finalizers(meta: dict[str, Any]) -> bool:
    """Deleted and only waiting for finalizers (grace 0): removing the last one deletes it."""
    return bool(meta.get("deletionTimestamp")) and meta.get("deletionGracePeriodSeconds") == 0


def replace(
    registry: Registry,
    resource: str,
    obj: dict[str, Any],
    *,
    namespace: str | None,
    name: str,
    manager: str,
    subresource: str | None = None,
    at_ns: int | None = None,
) -> Stored:
    """PUT: replace the object (or its `status`, or its Scale's `spec.replicas`).

    A `metadata.resourceVersion` or `uid` in `obj` that no longer matches is a
    409 Conflict (optimistic concurrency); uid, creationTimestamp, generation,
    deletion fields and managedFields are the server's; on the main resource of
    a kind with a status subresource, `status` is kept as stored. Raises 400,
    404, 405, 409, 422.
    """
    info = registry.info(resource)
    registry.check_subresource(info, subresource)
    if subresource is None and "update" not in info.verbs:
        raise method_not_allowed()
    if not isinstance(obj, dict):
        raise bad_request("the body of the request must be a JSON object")
    expected_kind = "Scale" if subresource == "scale" else info.kind
    if obj.get("kind") not in (None, expected_kind):
        raise bad_request(
            f"the kind in the data ({obj.get('kind')}) does not match the expected kind "
            f"({expected_kind})"
        )
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    if meta.get("name") not in (None, name):
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if info.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    current = registry.get(resource, namespace=namespace, name=name)
    rv = meta.get("resourceVersion")
    if rv not in (None, "") and str(rv) != str(current.rv):
        raise conflict(resource=resource, name=name, group=info.group)
    if meta.get("uid") not in (None, "", current.uid):
        raise precondition_failed(
            resource=resource,
            name=name,
            group=info.group,
            field="UID",
            wanted=meta["uid"],
            actual=current.uid,
        )
    at = now_ns() if at_ns is None else at_ns
    old = current.obj
    old_generation = int(old["metadata"].get("generation") or 0)
    old_spec = orjson.dumps(old.get("spec"))
    finalizing = awaiting_finalizers(old["metadata"])
    if subresource == "scale":
        replicas = scaling.replicas_of(obj)
        if replicas is None:
            raise invalid(
                kind="Scale",
                name=name,
                group="autoscaling",
                causes=["spec.replicas: Invalid value: must be greater than or equal to 0"],
            )
        new = old
        new.setdefault("spec", {})["replicas"] = replicas
        touched: dict[str, Any] = {"f:spec": {"f:replicas": {}}}
    elif subresource == "status":
        new = old
        new["status"] = obj.get("status") or {}
        touched = objects.fields_v1({"status": new["status"]})
    else:
        new = obj
        new_meta = new["metadata"]
        for field in SERVER_OWNED:
            if field in old["metadata"]:
                new_meta[field] = old["metadata"][field]
            else:
                new_meta.pop(field, None)
        new_meta.pop("selfLink", None)
        new_meta["name"] = name
        if info.namespaced:
            new_meta["namespace"] = namespace
        if "status" in info.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        registry.validate(info, new, name)
        owned = {k: v for k, v in new.items() if k not in ("kind", "apiVersion", "status")}
        owned["metadata"] = {
            k: new_meta[k] for k in ("labels", "annotations", "finalizers") if k in new_meta
        }
        touched = objects.fields_v1(owned)
    new_meta = new["metadata"]
    if (
        info.has_generation
        and subresource != "status"
        and orjson.dumps(new.get("spec")) != old_spec
    ):
        new_meta["generation"] = old_generation + 1
    objects.touch_managed_fields(
        new_meta,
        manager=manager,
        at_ns=at,
        fields=touched,
        subresource=subresource,
        api_version=info.api_version,
    )
    key = registry.key(info, namespace=namespace, name=name)
    return registry.commit(resource, key, new, finalizing=finalizing, at_ns=at)


def patch(
    registry: Registry,
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
    """PATCH: apply a merge, strategic-merge or JSON patch, then `replace` the result.

    Raises 400 (malformed patch), 404, 409 (a resourceVersion in the patch that
    no longer matches), 415 (unsupported patch type, e.g. server-side apply), 422.
    """
    info = registry.info(resource)
    registry.check_subresource(info, subresource)
    if subresource is None and "patch" not in info.verbs:
        raise method_not_allowed()
    if patch_type not in patching.PATCH_TYPES:
        raise ApiError(
            code=415,
            message=f"the body of the request was in an unknown format - accepted media "
            f"types include: {', '.join(patching.PATCH_TYPES)}",
        )
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            document = yaml.safe_load(body)
        except yaml.YAMLError as err:
            raise bad_request(f"error decoding patch: {err}") from None
    current = registry.get(resource, namespace=namespace, name=name)
    target = scaling.scale_of(current.obj) if subresource == "scale" else current.obj
    try:
        patched = patching.apply_patch(target, document, patch_type=patch_type)
    except patching.PatchError as err:
        if err.malformed:
            raise bad_request(str(err)) from None
        raise ApiError(
            code=422,
            message=f"the server rejected our request due to an error in our request: {err}",
        ) from None
    return replace(
        registry,
        resource,
        patched,
        namespace=namespace,
        name=name,
        manager=manager,
        subresource=subresource,
        at_ns=at_ns,
    )
