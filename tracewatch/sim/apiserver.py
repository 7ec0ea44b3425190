"""The HTTP face of the simulator: routing, bearer-token auth, Status errors, list and watch.

Everything is JSON. Lists and single objects are answered from the bytes the
store already holds; watch streams write each entry's shared, pre-encoded line.
A client that asks for a Table in Accept (kubectl get) gets one instead
(`tracewatch.sim.tables`).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web

from tracewatch.sim import discovery, openapi
from tracewatch.sim.errors import ApiError, bad_request
from tracewatch.sim.faults import Faults
from tracewatch.sim.items import read_object, serve_item
from tracewatch.sim.options import SimOptions
from tracewatch.sim.registry import Registry
from tracewatch.sim.resources import served
from tracewatch.sim.selectors import parse_field_selector, parse_label_selector
from tracewatch.sim.tables import requested_table
from tracewatch.sim.watchers import Watcher

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
"""What an unauthenticated client may read (system:public-info-viewer)."""
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TRUE = frozenset({"1", "true", "True"})
_VERB_OF = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Tokens:
    """The two bearer tokens the server accepts."""

    writer: str
    reader: str

    def user(self, token: str) -> tuple[str, bool] | None:
        """(user name, may write) for a valid token, else None; constant-time comparisons."""
        if hmac.compare_digest(token.encode(), self.writer.encode()):
            return "tracewatch-sim-admin", True
        if hmac.compare_digest(token.encode(), self.reader.encode()):
            return "tracewatch-sim-readonly", False
        return None


def _status_response(error: ApiError) -> web.Response:
    return web.Response(
        status=error.code, body=orjson.dumps(error.body), content_type="application/json"
    )


def _json(body: Any, *, code: int = 200) -> web.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return web.Response(status=code, body=data, content_type="application/json")


def _query_int(query: Mapping[str, str], name: str) -> int | None:
    text = query.get(name)
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise bad_request(f"invalid {name}: {text!r}") from None
    if value < 0:
        raise bad_request(f"invalid {name}: {text!r}")
    return value


def _send_initial_events(query: Mapping[str, str]) -> bool | None:
    """The watch's sendInitialEvents, validated the way ValidateListOptions does (422)."""
    text = query.get("sendInitialEvents")
    match = query.get("resourceVersionMatch")
    if text is None:
        if match:
            raise _invalid_list_options(
                "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                "unless sendInitialEvents is provided"
            )
        return None
    if match != "NotOlderThan":
        raise _invalid_list_options(
            f"resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            f'resourceVersionMatch to NotOlderThan, got "{match or ""}"'
        )
    send = text in _TRUE
    if send and query.get("allowWatchBookmarks") not in _TRUE:
        raise _invalid_list_options(
            "allowWatchBookmarks: Forbidden: sendInitialEvents requires setting "
            "allowWatchBookmarks to true"
        )
    return send


def _invalid_list_options(cause: str) -> ApiError:
    return ApiError(
        code=422,
        message=f'ListOptions.meta.k8s.io "" is invalid: {cause}',
        details={"group": "meta.k8s.io", "kind": "ListOptions"},
    )


class ApiServer:
    """Builds the aiohttp application serving the registry; tracks open watches."""

    def __init__(
        self,
        *,
        registry: Registry,
        options: SimOptions,
        tokens: Tokens,
        faults: Faults | None = None,
    ) -> None:
        self._registry = registry
        self.faults = faults
        self._options = options
        self._tokens = tokens
        self.watchers: set[Watcher] = set()
        self.server_address = ""
        """host:port, set once listening (the /api document advertises it)."""

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors, self._authenticate])
        r = app.router
        r.add_get("/version", self._version)
        for probe in ("/healthz", "/livez", "/readyz"):
            r.add_get(probe, self._ok)
        r.add_get("/api", self._api)
        r.add_get("/apis", self._apis)
        r.add_get("/api/v1", self._api_v1)
        r.add_get("/apis/{group}", self._apis_group)
        r.add_get("/apis/{group}/{version}", self._apis_group_version)
        r.add_get("/openapi/v3", self._openapi_root)
        r.add_get("/openapi/v3/{path:.+}", self._openapi_group_version)
        # Namespaced paths first: /api/v1/namespaces/ns/pods also fits {resource}/{name}/{sub}.
        for base in ("/api/{version:v1}", "/apis/{group}/{version}"):
            namespaced = base + "/namespaces/{namespace}/{resource}"
            r.add_route("*", namespaced, self._collection)
            r.add_route("*", namespaced + "/{name}", self._item)
            r.add_route("*", namespaced + "/{name}/{subresource}", self._item)
            r.add_route("*", base + "/{resource}", self._collection)
            r.add_route("*", base + "/{resource}/{name}", self._item)
            r.add_route("*", base + "/{resource}/{name}/{subresource}", self._item)
        r.add_route("*", "/{tail:.*}", self._not_found)
        return app

    # middlewares

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as error:
            return _status_response(error)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if not header and request.path in PUBLIC_PATHS:
            return await handler(request)
        if self._user(request) is None:
            raise ApiError(code=401, message="Unauthorized")
        return await handler(request)

    def _user(self, request: web.Request) -> tuple[str, bool] | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        return self._tokens.user(token.strip()) if scheme.lower() == "bearer" else None

    def _authorize(
        self,
        request: web.Request,
        *,
        resource: str,
        name: str | None,
        subresource: str | None = None,
    ) -> None:
        """403 for a write by the read-only user (authentication already passed)."""
        user = self._user(request)
        if request.method not in _WRITE_METHODS or user is None or user[1]:
            return
        verb = _VERB_OF[request.method]
        namespace = request.match_info.get("namespace")
        group = self._registry.info(resource).group
        qualified = f"{resource}.{group}" if group else resource
        subject = f'{qualified} "{name}"' if name else qualified
        target = f"{resource}/{subresource}" if subresource else resource
        where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
        details: dict[str, Any] = {"kind": resource}
        if name:
            details = {"name": name, "kind": resource}
        raise ApiError(
            code=403,
            message=f'{subject} is forbidden: User "{user[0]}" cannot {verb} resource '
            f'"{target}" in API group "{group}"{where}',
            details=details,
        )

    # discovery

    async def _version(self, request: web.Request) -> web.Response:
        return _json(discovery.version())

    async def _ok(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        return _json(discovery.api_versions(server_address=self.server_address))

    async def _apis(self, request: web.Request) -> web.Response:
        return _json(discovery.api_group_list())

    async def _api_v1(self, request: web.Request) -> web.Response:
        return _json(
            discovery.resource_list(
                group_version="v1", resources=self._registry.store.resources.values()
            )
        )

    async def _apis_group(self, request: web.Request) -> web.Response:
        group = discovery.api_group(request.match_info["group"])
        if group is None:
            raise ApiError(code=404, message="the server could not find the requested resource")
        return _json(group)

    async def _apis_group_version(self, request: web.Request) -> web.Response:
        group_version = f"{request.match_info['group']}/{request.match_info['version']}"
        resources = self._registry.store.resources.values()
        if not any(r.api_version == group_version for r in resources):
            raise ApiError(code=404, message="the server could not find the requested resource")
        return _json(discovery.resource_list(group_version=group_version, resources=resources))

    async def _openapi_root(self, request: web.Request) -> web.Response:
        return _json(openapi.root(self._registry.store.resources.values()))

    async def _openapi_group_version(self, request: web.Request) -> web.Response:
        document = openapi.group_version(
            request.match_info["path"], self._registry.store.resources.values()
        )
        if document is None:
            raise ApiError(code=404, message="the server could not find the requested resource")
        return _json(document)

    async def _not_found(self, request: web.Request) -> web.Response:
        raise ApiError(code=404, message="the server could not find the requested resource")

    # resources

    def _resource(self, request: web.Request) -> tuple[str, str | None]:
        resource = request.match_info["resource"]
        namespace = request.match_info.get("namespace")
        group, version = request.match_info.get("group", ""), request.match_info["version"]
        info = served(group=group, version=version, resource=resource)
        if info is None or resource not in self._registry.store.resources:
            raise ApiError(code=404, message="the server could not find the requested resource")
        if namespace is not None and not info.namespaced:
            raise ApiError(code=404, message="the server could not find the requested resource")
        return resource, namespace

    @staticmethod
    def _not_allowed() -> ApiError:
        return ApiError(
            code=405, message="the server does not allow this method on the requested resource"
        )

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = self._resource(request)
        if request.method == "GET":
            return await self._list_or_watch(request, resource, namespace)
        if request.method == "POST":
            if namespace is None and self._registry.info(resource).namespaced:
                raise self._not_allowed()
            self._authorize(request, resource=resource, name=None)
            obj = await self._body(request)
            stored = self._registry.create(
                resource, obj, namespace=namespace, manager=self._manager(request)
            )
            return _json(stored.data, code=201)
        raise self._not_allowed()

    async def _item(self, request: web.Request) -> web.StreamResponse:
        resource, namespace = self._resource(request)
        name = request.match_info["name"]
        subresource = request.match_info.get("subresource")
        self._authorize(request, resource=resource, name=name, subresource=subresource)
        if self.faults is not None:
            verb: Literal["get", "write"] = "get" if request.method == "GET" else "write"
            injected = self.faults.request_failure(verb=verb, resource=resource)
            if injected is not None:
                return injected
        return await serve_item(
            request,
            registry=self._registry,
            info=self._registry.info(resource),
            namespace=namespace,
            name=name,
            subresource=subresource,
            manager=self._manager(request),
        )

    @staticmethod
    def _manager(request: web.Request) -> str:
        manager = request.query.get("fieldManager")
        if manager:
            return manager
        agent = request.headers.get("User-Agent", "")
        return agent.split("/", 1)[0] or "unknown"

    @staticmethod
    async def _body(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
        return await read_object(request, optional=optional)

    async def _list_or_watch(
        self, request: web.Request, resource: str, namespace: str | None
    ) -> web.StreamResponse:
        info = self._registry.info(resource)
        query = request.query
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(
            query.get("fieldSelector"), supported=info.field_labels, resource=resource
        )
        watching = query.get("watch") in _TRUE
        table = requested_table(accept=request.headers.get("Accept", ""), query=query, info=info)
        if self.faults is not None:
            injected = self.faults.request_failure(
                verb="watch" if watching else "list", resource=resource
            )
            if injected is not None:
                return injected
        if not watching:
            limit = _query_int(query, "limit")
            body = self._registry.list_body(
                resource,
                namespace=namespace,
                labels=labels,
                fields=fields,
                limit=limit or None,
                continue_token=query.get("continue") or None,
            )
            return _json(body if table is None else table.list_body(body))
        send_initial_events = _send_initial_events(query)
        timeout_text = query.get("timeoutSeconds")
        try:
            timeout = float(timeout_text) if timeout_text else None
        except ValueError:
            raise bad_request(f"invalid timeoutSeconds: {timeout_text!r}") from None
        watcher = Watcher(
            store=self._registry.store,
            info=info,
            namespace=namespace,
            labels=labels,
            fields=fields,
            bookmarks=query.get("allowWatchBookmarks") in _TRUE,
            bookmark_interval=self._options.bookmark_interval,
            timeout=timeout,
            max_backlog=self._options.max_watch_backlog,
        )
        watcher.start(query.get("resourceVersion"), send_initial_events=send_initial_events)
        self.watchers.add(watcher)
        stream_id: int | None = None
        try:
            response = web.StreamResponse(
                status=200,
                headers={"Content-Type": "application/json", "Cache-Control": "no-cache, private"},
            )
            response.enable_chunked_encoding()
            await response.prepare(request)
            transport = request.transport

            def gone() -> bool:
                return transport is None or transport.is_closing()

            faults = self.faults
            if faults is not None:
                stream_id = faults.stream_opened(resource=resource, transport=transport)
            table_watch = table.watch() if table is not None else None
            try:
                async for chunk in watcher.stream(client_gone=gone):
                    if table_watch is not None:
                        chunk = table_watch.chunk(chunk)
                    if faults is not None and stream_id is not None:
                        faulted = await faults.chunk(stream_id, chunk, client_gone=gone)
                        if faulted is None:
                            break
                        chunk = faulted
                    await response.write(chunk)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                pass  # the client went away mid-stream
            return response
        finally:
            if self.faults is not None and stream_id is not None:
                self.faults.stream_closed(stream_id)
            watcher.close(reason="finished")
            self._registry.store.unsubscribe(resource, watcher)
            self.watchers.discard(watcher)

    def close_watches(self) -> None:
        """End every open watch stream cleanly (server shutdown)."""
        for watcher in list(self.watchers):
            watcher.close(reason="shutdown")
