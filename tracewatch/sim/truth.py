"""Ground truth: the true wall-clock instant (ns) of every simulated transition.

Each component takes one `time.time_ns()` reading when it does something and
writes the object timestamps from that same reading (truncated to the second,
or to the microsecond for `eventTime`, or the full ns in a legacy event's
name), so tests can measure tracewatch's reconstruction against these values.

Keys recorded for a pod (per object uid; `<c>` is a container name):

- `created`: the API server stored the pod (its `creationTimestamp`).
- `scheduled`: the scheduler bound it (PodScheduled=True, the Scheduled event's `eventTime`).
- `initialized`: the kubelet's first status write (Initialized=True, `startTime`).
- `sandbox_ready`: PodReadyToStartContainers=True.
- `pull_started:<c>` / `pulled:<c>`: Pulling / Pulled events of an image pull.
- `image_present:<c>`: the image was already on the node (Pulled "already present", no pull).
- `container_created:<c>` / `container_started:<c>`: Created / Started events; the latter is
  the container's `startedAt`.
- `running`: phase became Running (all containers started).
- `ready`: Ready=True and ContainersReady=True.
- `deletion_requested`: a DELETE set `deletionTimestamp` (graceful deletion began).
- `killing`: the kubelet began stopping the containers (Killing events).
- `terminated`: containers terminated, final status written.
- `deleted`: the object left the store (the DELETED watch event).

- `accepted`: the kubelet's first status write (with init containers, Initialized is still
  False then and `initialized` comes when the last init container completed).
- `unschedulable`: the first FailedScheduling (PodScheduled=False Unschedulable).
- container runs (`kubelet_containers`): `init_started:<c>`, `init_completed:<c>`,
  `container_ready:<c>`, `container_exited:<c>`, `restarted:<c>`, `crashloop:<c>`,
  `pull_failed:<c>`, `image_pull_backoff:<c>`, and `succeeded` / `failed` (terminal phase).

Controllers (`tracewatch.sim.controllers`; `<g>` a generation, `<n>` a replica count):

- Deployment: `rollout_started:<g>` (the write that made generation g), `rollout_complete:<g>`
  (status first satisfies the `kubectl rollout status` rules at g), `superseded:<g>` (a newer
  generation arrived before g completed; same instant as the next `rollout_started`),
  `rollout_failed:<g>` (Progressing=False ProgressDeadlineExceeded).
- ReplicaSet: `scaled:<n>` (status.replicas reached spec.replicas = n), `ready:<n>`,
  `available:<n>` (readyReplicas / availableReplicas reached n as well).
- StatefulSet, DaemonSet: `rollout_started:<g>`, `rollout_complete:<g>`, `ready:<n>`.
- Job: `started` (status.startTime written), `complete`, `failed`.
- PersistentVolumeClaim: `waiting_for_consumer`, `provisioning_started` (handed to the
  external provisioner), `provisioned` (the PV exists), `bound` (claim phase Bound).
- Any owner deleted in the foreground: `dependents_gone` (its finalizer is then removed).

Any other object gets `created` and `deleted`. A key keeps its first instant (a
ReplicaSet scaled to 3 twice keeps the first `scaled:3`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict


class GroundTruth:
    """Transition instants by object uid, plus lookups and waits for tests."""

    def __init__(self) -> None:
        self._times: dict[str, dict[str, int]] = {}
        self._identity: dict[str, tuple[str, str, str]] = {}
        self._uid_by_name: dict[tuple[str, str, str], str] = {}
        self._waiters: dict[tuple[str, str], list[asyncio.Future[int]]] = defaultdict(list)

    def register(self, *, uid: str, resource: str, namespace: str, name: str) -> None:
        """Remember which object a uid is (the latest object of that name wins the name)."""
        self._identity[uid] = (resource, namespace, name)
        self._uid_by_name[(resource, namespace, name)] = uid

    def record(self, uid: str, key: str, ns: int) -> None:
        """Record that `key` happened to object `uid` at `ns`; a repeat keeps the first instant."""
        times = self._times.get(uid)
        if times is None:
            times = self._times[uid] = {}
        elif key in times:
            return
        times[key] = ns
        if not self._waiters:
            return
        for future in self._waiters.pop((uid, key), ()):
            if not future.done():
                future.set_result(ns)

    def times(self, uid: str) -> dict[str, int]:
        """All recorded instants of the object (a copy); empty for an unknown uid."""
        return dict(self._times.get(uid, {}))

    def uid_of(self, *, resource: str = "pods", namespace: str, name: str) -> str | None:
        """The uid of the latest object of that name, or None."""
        return self._uid_by_name.get((resource, namespace, name))

    def identity(self, uid: str) -> tuple[str, str, str] | None:
        """(resource, namespace, name) of a uid, or None."""
        return self._identity.get(uid)

    def uids(self, *, resource: str | None = None) -> list[str]:
        """Every uid seen, in creation order (optionally of one resource)."""
        return [
            u for u, ident in self._identity.items() if resource is None or ident[0] == resource
        ]

    def future(self, uid: str, key: str) -> asyncio.Future[int]:
        """A future resolved with the instant of `key` on `uid` (already resolved if known).

        Cheaper than a task awaiting `wait_for` when a callback reacts to the
        transition (the churn scenario watches thousands); `forget` it if abandoned.
        """
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        known = self._times.get(uid, {}).get(key)
        if known is not None:
            future.set_result(known)
        else:
            self._waiters[(uid, key)].append(future)
        return future

    def forget(self, uid: str, key: str, future: asyncio.Future[int]) -> None:
        """Stop tracking an abandoned `future(uid, key)`."""
        waiters = self._waiters.get((uid, key))
        if waiters and future in waiters:
            waiters.remove(future)
            if not waiters:
                del self._waiters[(uid, key)]

    async def wait_for(self, uid: str, key: str, *, timeout: float) -> int:
        """The instant of `key` on `uid`, waiting up to `timeout` s; raises TimeoutError."""
        future = self.future(uid, key)
        if future.done():
            return future.result()
        # A timer on the future itself: cheaper than asyncio.wait_for.
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()
            self.forget(uid, key, future)


def _expire(future: asyncio.Future[int]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
