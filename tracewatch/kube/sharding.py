"""Sharding by namespace: which objects a replica started with `--shard i --total-shards n` keeps.

Owner references never cross namespaces, so a namespace's lifecycles (Deployment
-> ReplicaSet -> Pod, their Events) stay whole on one shard. The hash is
CRC-32 of the namespace name: stable across processes, machines and Python
versions (Python's own `hash` of a str is randomised per process). Objects
without a namespace (Nodes, PersistentVolumes) go to shard 0. Events go by
their own namespace, which is their involved object's.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from tracewatch.core.snapshots import Snapshot

__all__ = ["Shard", "shard_of"]


def shard_of(namespace: str, *, total_shards: int) -> int:
    """The shard a namespace belongs to; "" (cluster-scoped) is shard 0."""
    if not namespace:
        return 0
    return zlib.crc32(namespace.encode()) % total_shards


@dataclass(frozen=True, slots=True, kw_only=True)
class Shard:
    """This replica's shard; use `keeps` as an informer's object filter."""

    index: int = 0
    total: int = 1

    def __post_init__(self) -> None:
        if self.total < 1 or not 0 <= self.index < self.total:
            raise ValueError(
                f"shard {self.index} of {self.total}: need total_shards >= 1 "
                "and 0 <= shard < total_shards"
            )

    @property
    def everything(self) -> bool:
        return self.total == 1

    def keeps_namespace(self, namespace: str) -> bool:
        return shard_of(namespace, total_shards=self.total) == self.index

    def keeps(self, obj: Snapshot) -> bool:
        """Whether this shard handles `obj` (the same answer for every version of it)."""
        return shard_of(obj.metadata.namespace, total_shards=self.total) == self.index
