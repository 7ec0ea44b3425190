"""HTTP verbs on one object and its subresources: GET, PUT, PATCH, DELETE of `.../<name>[/<sub>]`.

The semantics live in the registry (`replace`, `patch`, `delete`, `scale`);
this module only reads the request (body, content type, DeleteOptions from the
body or the query) and shapes the response (the object, its Scale, or for a GET
that asks for one, its Table).
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml
from aiohttp import web

from tracewatch.sim import scaling
from tracewatch.sim.errors import ApiError, bad_request, method_not_allowed
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.store import Stored
from tracewatch.sim.tables import requested_table

_UNKNOWN = "the server could not find the requested resource"


def json_response(body: Any, *, code: int = 200) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(status=code, body=data, content_type="application/json")


async def read_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (JSON or YAML); 400 if empty (unless optional) or bad."""
    raw = await request.read()
    if not raw.strip():
        if optional:
            return {}
        raise bad_request("the request body is empty")
    content_type = request.content_type
    if "protobuf" in content_type:
        raise ApiError(
            code=415,
            message="the body of the request was in an unknown format - "
            "accepted media types include: application/json, application/yaml",
        )
    try:
        body = yaml.safe_load(raw) if "yaml" in content_type else orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as err:
        raise bad_request(f"the body of the request could not be decoded: {err}") from None
    if not isinstance(body, dict):
        raise bad_request("the body of the request must be an object")
    return body


def _int_option(name: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise bad_request(f"invalid {name}: {value!r}") from None


def _policy(query: Any, options: dict[str, Any]) -> str | None:
    """propagationPolicy from the query or DeleteOptions; the deprecated orphanDependents too."""
    policy = query.get("propagationPolicy", options.get("propagationPolicy"))
    orphan = query.get("orphanDependents", options.get("orphanDependents"))
    if policy is None and orphan is not None:
        policy = "Orphan" if str(orphan).lower() == "true" else "Background"
    return policy


async def serve_item(
    request: web.Request,
    *,
    registry: Registry,
    info: ResourceInfo,
    namespace: str | None,
    name: str,
    subresource: str | None,
    manager: str,
) -> web.Response:
    """One object's verb; raises ApiError for everything the real server refuses."""
    resource = info.name
    if subresource is not None and subresource not in info.subresources:
        raise ApiError(code=404, message=_UNKNOWN)
    method = request.method
    stored: Stored
    if method == "GET":
        if subresource == "scale":
            return json_response(registry.scale(resource, namespace=namespace, name=name))
        stored = registry.get(resource, namespace=namespace, name=name)
        accept = request.headers.get("Accept", "")
        table = requested_table(accept=accept, query=request.query, info=info)
        if table is not None:
            return json_response(table.object_body(stored.data))
    elif method == "PUT":
        stored = registry.replace(
            resource,
            await read_object(request),
            namespace=namespace,
            name=name,
            manager=manager,
            subresource=subresource,
        )
    elif method == "PATCH":
        stored = registry.patch(
            resource,
            await request.read(),
            patch_type=request.content_type,
            namespace=namespace,
            name=name,
            manager=manager,
            subresource=subresource,
        )
    elif method == "DELETE" and subresource is None:
        options = await read_object(request, optional=True)
        query = request.query
        preconditions = options.get("preconditions")
        stored = registry.delete(
            resource,
            namespace=namespace,
            name=name,
            grace_period_seconds=_int_option(
                "gracePeriodSeconds",
                query.get("gracePeriodSeconds", options.get("gracePeriodSeconds")),
            ),
            propagation_policy=_policy(query, options),
            preconditions=preconditions if isinstance(preconditions, dict) else None,
        )
    else:
        raise method_not_allowed()
    if subresource == "scale":
        return json_response(scaling.scale_of(stored.obj))
    return json_response(stored.data)
