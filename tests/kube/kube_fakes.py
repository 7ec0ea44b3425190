"""Test doubles for the watch layer: a scriptable fake API server (aiohttp, real HTTP) and helpers.

Each list request takes the next scripted `Reply`; each watch request the next `Watch`
(lines to send, then close, hold open, or abort the connection). Every request is
recorded so tests can assert on paths, query parameters and headers. When the
scripts run out, lists answer 500 and watches hold open, so an informer idles.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from tracewatch.core.observations import Observation
from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer, InformerOptions

TOKEN = "s3cr3t-token-for-tests"
DATA = Path(__file__).parent / "data"


def pod(name: str, rv: str, *, uid: str | None = None, phase: str = "Pending") -> dict[str, Any]:
    """A small but real-shaped pod object."""
    return {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": uid or f"uid-{name}",
            "resourceVersion": rv,
            "creationTimestamp": "2024-05-01T10:00:00Z",
        },
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
        "status": {"phase": phase},
    }


def line(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode()


def bookmark(rv: str) -> bytes:
    return line(
        "BOOKMARK", {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}
    )


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def pod_list(items: list[dict[str, Any]], rv: str, *, continue_token: str = "") -> bytes:
    meta: dict[str, str] = {"resourceVersion": rv}
    if continue_token:
        meta["continue"] = continue_token
    return json.dumps(
        {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
    ).encode()


@dataclass
class Reply:
    """A complete (non-streamed) answer."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, code: int, reason: str, message: str = "", **headers: str) -> Reply:
        return cls(
            status=code, body=json.dumps(status(code, reason, message)).encode(), headers=headers
        )


@dataclass
class Watch:
    """A streamed watch answer: send `lines`, then close normally, hold silent, or abort."""

    lines: list[bytes] = field(default_factory=list)
    then: Literal["close", "hold", "abort"] = "close"


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]

    @property
    def is_watch(self) -> bool:
        return self.query.get("watch") in ("true", "1")


class FakeApi:
    def __init__(self) -> None:
        self.lists: deque[Reply] = deque()
        self.watches: deque[Watch | Reply] = deque()
        self.requests: list[Recorded] = []
        self.release = asyncio.Event()
        self.disconnects = 0
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def watch_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.is_watch]

    def list_requests(self) -> list[Recorded]:
        return [r for r in self.requests if not r.is_watch]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/pods", self._handle)
        app.router.add_get("/api/v1/namespaces/{namespace}/pods", self._handle)
        app.router.add_get("/api/v1/events", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(request.path, dict(request.query), dict(request.headers))
        self.requests.append(recorded)
        if not recorded.is_watch:
            reply = self.lists.popleft() if self.lists else Reply.error(500, "Unscripted")
            return web.Response(
                status=reply.status,
                body=reply.body,
                headers=reply.headers,
                content_type="application/json",
            )
        script = self.watches.popleft() if self.watches else Watch(then="hold")
        if isinstance(script, Reply):
            return web.Response(
                status=script.status,
                body=script.body,
                headers=script.headers,
                content_type="application/json",
            )
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for item in script.lines:
            await response.write(item + b"\n")
        if script.then == "hold":
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.disconnects += 1  # the client went away (aiohttp cancels the handler)
                raise
        elif script.then == "abort":
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response


@pytest.fixture
async def fake_api() -> Any:
    api = FakeApi()
    server = TestServer(api.app())
    await server.start_server()
    api.server = server
    yield api
    api.release.set()
    await server.close()


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    token: str = TOKEN,
    cluster_extra: dict[str, Any] | None = None,
    context: str = "test",
    user: dict[str, Any] | None = None,
) -> Path:
    """A kubeconfig whose context `context` uses `user` (default: a static token)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, **(cluster_extra or {})}}],
        "users": [{"name": "u", "user": user if user is not None else {"token": token}}],
        "contexts": [
            {"name": context, "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "c", "user": "nobody"}},
        ],
        "current-context": "other",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def connection(fake_api: FakeApi, tmp_path: Path) -> Any:
    """An ApiConnection to the fake API, built from a kubeconfig (token user, context 'test')."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", server=fake_api.url)
    conn = await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test")
    yield conn
    await conn.close()


class FakeTime:
    """Injected clock and sleep: sleeping records the delay and returns at once."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._ns = 1_700_000_000_000_000_000

    def clock_ns(self) -> int:
        self._ns += 1_000
        return self._ns

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        await asyncio.sleep(0)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def options(fake_time: FakeTime, **overrides: Any) -> InformerOptions:
    """Test options: fake clock and sleep, no jitter (random() = 0.5), short timeouts."""
    values: dict[str, Any] = {
        "clock_ns": fake_time.clock_ns,
        "sleep": fake_time.sleep,
        "random": lambda: 0.5,
        "read_timeout": 5.0,
        "request_timeout": 5.0,
        "min_watch_seconds": 0.0,
    }
    values.update(overrides)
    return InformerOptions(**values)


class Collected(list[Observation]):
    """A sink that keeps what it receives."""

    def __call__(self, observation: Observation) -> None:
        self.append(observation)

    def summary(self) -> list[tuple[str, str, str]]:
        return [
            (o.change.value, o.obj.metadata.name, o.obj.metadata.resource_version) for o in self
        ]


async def run_until(informer: Informer, done: Callable[[], bool], *, timeout: float = 5.0) -> None:
    """Run the informer until `done()` holds, then cancel it; fail if that takes over `timeout`."""
    task = asyncio.create_task(informer.run())
    try:
        async with asyncio.timeout(timeout):
            while not done():
                if task.done():
                    task.result()
                    raise AssertionError("informer.run() returned")
                await asyncio.sleep(0.005)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
