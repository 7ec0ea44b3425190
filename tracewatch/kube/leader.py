"""Leader election on a coordination.k8s.io/v1 Lease: one replica exports, the others stand by.

The algorithm is client-go's (tools/leaderelection): every `retry_period` a
candidate reads the Lease; it takes the Lease when it is absent, released
(empty holder) or not renewed for `leaseDurationSeconds` as measured on the
candidate's own clock from when it last saw the record change (never from
`renewTime`, so clock skew between nodes does not matter). Writes are PUTs
carrying the resourceVersion that was read, so of two candidates racing for
an expired Lease exactly one wins and the other gets 409 Conflict. The leader
renews every `retry_period`; if no renewal succeeds within `renew_deadline` of
the last one it stops leading, which happens before any standby can take
over (`renew_deadline` < lease duration). On cancellation a leader releases
the Lease (client-go's ReleaseOnCancel): empty holder, 1 s duration, so a
standby takes over on its next try.

kubernetes_asyncio.leaderelection is not used: it refuses periods under a
second, writes naive local times as UTC, neither counts `leaseTransitions`
nor releases on cancel, and needs its generated-model ApiClient.

`LeaderElector.exporting` is the daemon's export gate: true only while
leading and within `renew_deadline` of the last successful renewal, so the
gate closes on time even while a renewal request hangs.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec
import structlog

from tracewatch.kube.connection import ApiError, ReadTimeout, describe_failure
from tracewatch.kube.lease import (
    JITTER_FACTOR,
    LeaseConfig,
    LeaseRecord,
    LeaseTransport,
    decode_lease,
    default_identity,
    default_lease_namespace,
    micro_time,
)

__all__ = [
    "ElectorOptions",
    "LeaderElector",
    "LeaseConfig",
    "LeaseRecord",
    "LeaseTransport",
    "default_identity",
    "default_lease_namespace",
    "micro_time",
]

log = structlog.get_logger(__name__)

_VERBS = {"GET": "get", "POST": "create", "PUT": "update"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ElectorOptions:
    """Injected effects; defaults are for production."""

    monotonic: Callable[[], float] = time.monotonic
    """Measures lease expiry and the renew deadline (must tick like the event loop's clock)."""
    clock_ns: Callable[[], int] = time.time_ns
    """Wall clock for acquireTime/renewTime."""
    rng: random.Random = field(default_factory=random.Random)


class _Lost(Exception):
    """A write lost a race (409): someone else changed the Lease since we read it."""


class _Refused(Exception):
    """The API server refused a Lease request; `verb` is the RBAC verb it needed."""

    def __init__(self, *, verb: str, error: ApiError) -> None:
        super().__init__(str(error))
        self.verb = verb
        self.error = error


class LeaderElector:
    """Campaigns for one Lease until cancelled; `exporting` is open only while leading.

    `run()` never returns by itself: it alternates acquiring and renewing, falls back to
    standby when a renewal misses the deadline, and keeps trying. API errors are logged
    once per distinct problem (a 403 names the missing Lease permission) and retried.
    """

    def __init__(
        self,
        *,
        transport: LeaseTransport,
        config: LeaseConfig,
        options: ElectorOptions | None = None,
    ) -> None:
        self.config = config
        self.options = options or ElectorOptions()
        self._transport = transport
        self._leading = False
        self._renewed_at = -math.inf
        self._observed: LeaseRecord | None = None
        self._observed_at = -math.inf
        self._object: dict[str, Any] | None = None
        """The Lease as last read or written (its resourceVersion guards our next write)."""
        self._changed = asyncio.Condition()
        self.problem: str | None = None
        """The last API problem (e.g. forbidden), None once a request succeeds again."""

    @property
    def leading(self) -> bool:
        """This replica holds the Lease (as far as its last renewal knows)."""
        return self._leading

    @property
    def exporting(self) -> bool:
        """Leading and within the renew deadline of the last renewal (the export gate)."""
        return self._leading and (
            self.options.monotonic() - self._renewed_at < self.config.renew_deadline_s
        )

    @property
    def holder(self) -> str | None:
        """The holder the last read showed ("" when released, None before the first read)."""
        return None if self._observed is None else self._observed.holder

    async def wait_until(self, *, leading: bool) -> None:
        """Return once `leading` has the given value."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._leading is leading)

    async def run(self) -> None:
        """Campaign until cancelled; on cancellation release the Lease if leading (and allowed)."""
        try:
            while True:
                await self._acquire()
                await self._renew_until_lost()
        except asyncio.CancelledError:
            was_leading = self._leading
            await self._set_leading(False)
            if was_leading and self.config.release_on_cancel:
                await self.release()
            raise

    async def release(self) -> bool:
        """Give the Lease up now (empty holder, 1 s duration); True if released or not held.

        For use once `run` has stopped (it does this itself when cancelled).
        """
        if self._observed is None or self._observed.holder != self.config.identity:
            return True
        await self._set_leading(False)
        now = micro_time(self.options.clock_ns())
        record = LeaseRecord(holder="", duration_s=1, acquire_time=now, renew_time=now,
                             transitions=self._observed.transitions)
        try:
            async with asyncio.timeout(self.config.renew_deadline_s):
                await self._write(record)
        except (_Lost, _Refused, ReadTimeout, aiohttp.ClientError, OSError, ValueError) as exc:
            # TimeoutError is an OSError; the Lease then simply expires as if we had died.
            log.warning("leader.release_failed", lease=self._lease_name,
                        error=describe_failure(exc))
            return False
        self._observed = record
        log.info("leader.released", lease=self._lease_name, identity=self.config.identity)
        return True

    # the campaign

    async def _acquire(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.config.renew_deadline_s):
                    if await self._try_acquire_or_renew():
                        break
            except TimeoutError:
                self._report(f"no answer within {self.config.renew_deadline_s}s")
            jitter = 1 + self.options.rng.random() * JITTER_FACTOR
            await asyncio.sleep(self.config.retry_period_s * jitter)
        log.info("leader.acquired", lease=self._lease_name, identity=self.config.identity)
        await self._set_leading(True)

    async def _renew_until_lost(self) -> None:
        retry = self.config.retry_period_s
        while True:
            await asyncio.sleep(retry)
            remaining = self._renewed_at + self.config.renew_deadline_s - self.options.monotonic()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    while not await self._try_acquire_or_renew():
                        await asyncio.sleep(retry)
            except TimeoutError:
                log.warning("leader.lost", lease=self._lease_name, identity=self.config.identity,
                            reason=self.problem or f"not renewed within "
                            f"{self.config.renew_deadline_s}s", holder=self.holder)
                await self._set_leading(False)
                return

    async def _try_acquire_or_renew(self) -> bool:
        """One round: read, decide, write. False when held by another, lost a race or failed."""
        me = self.config.identity
        started = self.options.monotonic()
        now = micro_time(self.options.clock_ns())
        try:
            current = await self._read()
            if current is None:
                record = LeaseRecord(holder=me, duration_s=self.config.lease_seconds,
                                     acquire_time=now, renew_time=now, transitions=0)
                await self._create(record)
            else:
                if current != self._observed:
                    if current.holder != (self._observed.holder if self._observed else None):
                        log.info("leader.observed", lease=self._lease_name,
                                 holder=current.holder or None)
                    self._observed, self._observed_at = current, started
                held_for = current.duration_s or self.config.lease_seconds
                if current.holder and current.holder != me and (
                    started < self._observed_at + held_for
                ):
                    self._recovered()
                    return False
                if current.holder == me:  # a renewal keeps the acquisition
                    record = LeaseRecord(holder=me, duration_s=self.config.lease_seconds,
                                         acquire_time=current.acquire_time or now,
                                         renew_time=now, transitions=current.transitions)
                else:
                    record = LeaseRecord(holder=me, duration_s=self.config.lease_seconds,
                                         acquire_time=now, renew_time=now,
                                         transitions=current.transitions + 1)
                await self._write(record)
        except _Lost:
            log.debug("leader.lost_race", lease=self._lease_name)
            return False
        except _Refused as exc:
            self._refused(exc)
            return False
        except (ReadTimeout, aiohttp.ClientError, OSError, ValueError) as exc:
            self._report(describe_failure(exc))
            return False
        self._observed, self._observed_at = record, started
        # Measured from before the request: the write happened after this, so our
        # deadline ends before any standby's lease-duration wait (which starts after it).
        self._renewed_at = started
        self._recovered()
        return True

    # Lease I/O

    @property
    def _lease_name(self) -> str:
        return f"{self.config.namespace}/{self.config.name}"

    async def _read(self) -> LeaseRecord | None:
        try:
            body = await self._transport.get_json_bytes(
                f"{self.config.path}/{self.config.name}", timeout=self.config.renew_deadline_s
            )
        except ApiError as exc:
            if exc.status == 404:
                self._object = None
                return None
            raise _Refused(verb="get", error=exc) from exc
        self._object = decode_lease(body)
        return LeaseRecord.from_spec(self._object.get("spec"))

    async def _create(self, record: LeaseRecord) -> None:
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.config.name, "namespace": self.config.namespace},
            "spec": record.to_spec(),
        }
        await self._send("POST", self.config.path, lease)

    async def _write(self, record: LeaseRecord) -> None:
        """PUT the Lease as last read with our record; 409 (changed since) raises _Lost."""
        if self._object is None:
            raise _Lost("no Lease read yet")
        lease = dict(self._object)
        lease["spec"] = {**(lease.get("spec") or {}), **record.to_spec()}
        await self._send("PUT", f"{self.config.path}/{self.config.name}", lease)

    async def _send(self, method: str, path: str, lease: dict[str, Any]) -> None:
        try:
            body = await self._transport.send_json(
                method, path, msgspec.json.encode(lease), timeout=self.config.renew_deadline_s
            )
        except ApiError as exc:
            if exc.status == 409:  # AlreadyExists on create, Conflict on update
                raise _Lost(exc.reason) from exc
            raise _Refused(verb=_VERBS[method], error=exc) from exc
        self._object = decode_lease(body)

    # state and reporting

    async def _set_leading(self, leading: bool) -> None:
        if self._leading is leading:
            return
        self._leading = leading
        if not leading:
            self._renewed_at = -math.inf
        async with self._changed:
            self._changed.notify_all()

    def _refused(self, refused: _Refused) -> None:
        error = refused.error
        if error.status == 401:
            self._transport.credentials_rejected()
        if error.status in (401, 403):
            self._report(
                f"cannot {refused.verb} leases.coordination.k8s.io in namespace "
                f"{self.config.namespace!r} ({error.status} {error.reason}): leader election "
                "needs get, create and update on leases there (see "
                "deploy/components/leader-election)",
                error=True,
            )
        else:
            self._report(f"{refused.verb} lease {self.config.name!r} failed: {error}")

    def _report(self, problem: str, *, error: bool = False) -> None:
        if problem == self.problem:
            return
        self.problem = problem
        emit = log.error if error else log.warning
        emit("leader.election_failing", lease=self._lease_name, problem=problem)

    def _recovered(self) -> None:
        if self.problem is not None:
            log.info("leader.election_recovered", lease=self._lease_name)
            self.problem = None
