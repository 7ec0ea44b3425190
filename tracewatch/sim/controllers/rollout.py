"""Pure helpers of the Deployment controller: template hashes, fenceposts, RS field readers."""

from __future__ import annotations

import math
from typing import Any

import orjson

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
_SAFE_CHARS = "bcdfghjklmnpqrstvwxz2456789"
"""apimachinery rand.SafeEncodeString's alphabet."""


def template_hash(template: dict[str, Any], *, collision_count: int = 0) -> str:
    """ComputeHash: FNV-32a of the template (here its sorted JSON), SafeEncodeString'd."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        data += collision_count.to_bytes(4, "little")
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE_CHARS[ord(c) % len(_SAFE_CHARS)] for c in str(h))


def _int_or_percent(value: Any, total: int, *, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(value)


def fenceposts(deployment: dict[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas (ResolveFenceposts)."""
    spec = deployment["spec"]
    desired = int(spec.get("replicas", 1))
    rolling = ((spec.get("strategy") or {}).get("rollingUpdate")) or {}
    surge = _int_or_percent(rolling.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = _int_or_percent(rolling.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    copy = orjson.loads(orjson.dumps(template))
    labels = (copy.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return copy


def replicas_of(rs: dict[str, Any]) -> int:
    return int(rs["spec"].get("replicas", 1))


def status_count(rs: dict[str, Any], field: str) -> int:
    return int((rs.get("status") or {}).get(field, 0))


def revision_of(rs: dict[str, Any]) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0
