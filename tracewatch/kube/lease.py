"""The Lease as leader election sees it: which Lease, who we are, its record, MicroTime.

Data and small helpers for `tracewatch.kube.leader`; no I/O but reading the
ServiceAccount's namespace file.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from tracewatch.core.clock import format_timestamp_ns
from tracewatch.kube.decoding import UNDECODABLE

__all__ = [
    "JITTER_FACTOR",
    "NAMESPACE_FILE",
    "LeaseConfig",
    "LeaseRecord",
    "LeaseTransport",
    "decode_lease",
    "default_identity",
    "default_lease_namespace",
    "micro_time",
]

NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
JITTER_FACTOR = 1.2
"""client-go's: a candidate waits retry_period * (1 + rand * 1.2) between tries to acquire."""


class LeaseTransport(Protocol):
    """What the elector needs from a connection (ApiConnection or a test double)."""

    async def get_json_bytes(
        self, path: str, params: Mapping[str, str] | None = None, *, timeout: float = 60.0
    ) -> bytes: ...

    async def send_json(self, method: str, path: str, body: bytes, *, timeout: float) -> bytes: ...

    def credentials_rejected(self) -> None: ...


def default_identity(*, environ: Mapping[str, str] | None = None) -> str:
    """This replica's holder identity: $POD_NAME (downward API), else hostname_pid."""
    environ = os.environ if environ is None else environ
    return environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


def default_lease_namespace(
    *, environ: Mapping[str, str] | None = None, namespace_file: str = NAMESPACE_FILE
) -> str:
    """The pod's namespace: $POD_NAMESPACE, else the ServiceAccount's namespace file, else
    "default"."""
    environ = os.environ if environ is None else environ
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    with contextlib.suppress(OSError):
        with open(namespace_file, encoding="utf-8") as f:
            namespace = f.read().strip()
        if namespace:
            return namespace
    return "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseConfig:
    """Which Lease, who we are, and the timing (client-go's defaults: 15 s / 10 s / 2 s).

    Raises ValueError unless retry_period * 1.2 < renew_deadline < lease_duration.
    """

    namespace: str
    name: str = "tracewatch"
    identity: str
    lease_duration_s: float = 15.0
    """How long a standby waits, from the last change it saw, before taking the Lease."""
    renew_deadline_s: float = 10.0
    """How long the leader keeps leading without a successful renewal."""
    retry_period_s: float = 2.0
    """Between renewals, and (jittered) between tries to acquire."""
    release_on_cancel: bool = True
    """Release the Lease when `run` is cancelled, so a standby takes over at once."""

    def __post_init__(self) -> None:
        if not self.identity:
            raise ValueError("leader election needs a non-empty identity")
        if self.lease_duration_s < 1:
            raise ValueError("lease duration must be at least 1s (the Lease stores seconds)")
        if not self.renew_deadline_s < self.lease_duration_s:
            raise ValueError("renew deadline must be shorter than the lease duration")
        if not self.retry_period_s * JITTER_FACTOR < self.renew_deadline_s:
            raise ValueError("renew deadline must exceed 1.2 x the retry period")

    @property
    def lease_seconds(self) -> int:
        """leaseDurationSeconds as written (rounded up: never promise less than configured)."""
        return math.ceil(self.lease_duration_s)

    @property
    def path(self) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{self.namespace}/leases"


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseRecord:
    """The election fields of a Lease's spec."""

    holder: str = ""
    duration_s: int = 0
    acquire_time: str | None = None
    renew_time: str | None = None
    transitions: int = 0

    @classmethod
    def from_spec(cls, spec: Any) -> LeaseRecord:
        """Tolerant of missing or mistyped fields (a hand-edited Lease must not crash us)."""
        spec = spec if isinstance(spec, dict) else {}

        def text(key: str) -> str | None:
            value = spec.get(key)
            return value if isinstance(value, str) else None

        def number(key: str) -> int:
            value = spec.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        return cls(
            holder=text("holderIdentity") or "",
            duration_s=number("leaseDurationSeconds"),
            acquire_time=text("acquireTime"),
            renew_time=text("renewTime"),
            transitions=number("leaseTransitions"),
        )

    def to_spec(self) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_s,
            "acquireTime": self.acquire_time,
            "renewTime": self.renew_time,
            "leaseTransitions": self.transitions,
        }


def micro_time(ns: int) -> str:
    """A MicroTime: RFC 3339 UTC with exactly six fractional digits."""
    return format_timestamp_ns(ns, digits=6)


def decode_lease(body: bytes) -> dict[str, Any]:
    try:
        lease = msgspec.json.decode(body)
    except UNDECODABLE as exc:
        raise ValueError(f"malformed Lease from the API server: {exc}") from None
    if not isinstance(lease, dict):
        raise ValueError("malformed Lease from the API server: not an object")
    return lease
