"""The ops HTTP server (aiohttp): `/healthz`, `/readyz` and `/metrics`.

- `/healthz`: 200 while the event loop is alive and not starved (see `health`), else 503.
- `/readyz`: 200 once every informer has listed at least once and none is failing
  auth, else 503 with the informers that are not there yet.
- `/metrics`: the pipeline's registry in the Prometheus text format, or in
  OpenMetrics (which carries the trace-id exemplars) when the scraper's Accept
  header asks for `application/openmetrics-text`.

Bodies never carry secrets: only resource names, counters and states.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any, Self

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from tracewatch.ops.health import LoopMonitor

__all__ = ["OpsServer", "parse_address"]

log = structlog.get_logger(__name__)

Readiness = Callable[[], tuple[bool, Mapping[str, Any]]]
"""Returns (ready, details); details are JSON-able and secret-free."""


def parse_address(address: str) -> tuple[str | None, int]:
    """(host, port) from `host:port`, `:port` (all interfaces) or `[v6]:port`; ValueError else."""
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{address!r} is not an address such as :8080 or 127.0.0.1:8080")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return (host or None), int(port)


class OpsServer:
    """Serves the ops endpoints on `address` and runs the loop monitor while it is up."""

    def __init__(
        self,
        *,
        address: str,
        registry: CollectorRegistry,
        readiness: Readiness,
        monitor: LoopMonitor | None = None,
    ) -> None:
        self.host, self.port = parse_address(address)
        self._registry = registry
        self._readiness = readiness
        self.monitor = monitor or LoopMonitor()
        self._runner: web.AppRunner | None = None
        self._monitoring: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server (the bound port when 0 was asked for)."""
        host = self.host or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        """Bind and serve; OSError when the address cannot be bound."""
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound = runner.addresses
        if bound:
            self.port = bound[0][1]
        self._monitoring = asyncio.create_task(self.monitor.run(), name="loop-monitor")
        log.info("ops.listening", address=f"{self.host or ''}:{self.port}",
                 endpoints=["/healthz", "/readyz", "/metrics"])

    async def stop(self) -> None:
        """Stop serving; idempotent."""
        task, self._monitoring = self._monitoring, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _healthz(self, _request: web.Request) -> web.Response:
        health = self.monitor.check()
        body = {"status": "ok" if health.healthy else "unhealthy",
                "loop_lag_seconds": round(health.lag_s, 6)}
        if health.reason:
            body["reason"] = health.reason
        return web.json_response(body, status=200 if health.healthy else 503)

    async def _readyz(self, _request: web.Request) -> web.Response:
        ready, details = self._readiness()
        body = {"status": "ready" if ready else "not ready", **details}
        return web.json_response(body, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        payload = encoder(self._registry)
        return web.Response(body=payload, headers={"Content-Type": content_type})
