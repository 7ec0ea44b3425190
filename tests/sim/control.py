"""Helpers for the control-plane tests: fast controller latencies, events and history readers."""

from __future__ import annotations

from typing import Any

from tracewatch.sim import Latency, SimCluster
from tracewatch.sim.controllers.base import spec_update
from tracewatch.sim.timestamps import now_ns

CONTROL: dict[str, Any] = {
    "restart_backoff": 0.1,
    "controller_sync": Latency.fixed(0.005),
    "pv_bind": Latency.fixed(0.01),
    "provision": Latency.fixed(0.05),
    "container_run": Latency.fixed(0.02),
}
"""Overrides of the FAST options for controllers: every reaction within a few ms."""


def events_of(sim: SimCluster, uid: str) -> list[dict[str, Any]]:
    """Events whose involvedObject is `uid`, in creation (resourceVersion) order."""
    stored = [s for s in sim.store.items("events") if s.obj["involvedObject"].get("uid") == uid]
    return [s.obj for s in sorted(stored, key=lambda s: int(s.obj["metadata"]["resourceVersion"]))]


def history(sim: SimCluster, resource: str, *, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """Every (type, object) write of `resource` still in the watch history, after `since`."""
    import orjson

    return [(e.type, orjson.loads(e.data)) for e in sim.store.since(resource, since)]


def update(
    sim: SimCluster, resource: str, name: str, mutate: Any, *, namespace: str = "default"
) -> None:
    """A client update of spec/metadata (generation moves if the spec changed)."""
    spec_update(
        sim.registry,
        resource,
        namespace=namespace,
        name=name,
        mutate=mutate,
        manager="kubectl",
        at_ns=now_ns(),
    )


def owned(
    sim: SimCluster, resource: str, owner_uid: str, *, namespace: str = "default"
) -> list[dict[str, Any]]:
    """Objects of `resource` with a controller owner reference to `owner_uid`."""
    return [
        s.obj
        for s in sim.store.items(resource, namespace=namespace)
        if any(
            r.get("uid") == owner_uid and r.get("controller")
            for r in s.obj["metadata"].get("ownerReferences") or ()
        )
    ]
