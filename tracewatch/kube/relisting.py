"""What an informer remembers of its objects, and the diff a relist makes against it.

After a 410 the watch history between our last version and now is lost; a relist
shows the present. Diffing it against what we knew turns the gap into the changes
the core needs, without delivering anything twice:
vanished objects become RELISTED_GONE (deletion of unknown time, with the last
snapshot we saw), objects at a new resourceVersion MODIFIED, new objects ADDED,
unchanged ones nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from tracewatch.core.observations import Change
from tracewatch.core.snapshots import Pod, PodSpec, Snapshot

__all__ = ["KnownObjects", "diff_relist", "stand_in"]


class KnownObjects:
    """uid -> a stand-in for the last snapshot seen.

    The stand-in holds only what a relist diff and a RELISTED_GONE observation
    need: name, namespace, uid, resourceVersion (and a pod's node). A pod being
    deleted keeps its whole last snapshot, whose container statuses time the
    kill. Keeping full snapshots of 100k idle pods would cost kilobytes each.
    """

    __slots__ = ("_by_uid",)

    def __init__(self) -> None:
        self._by_uid: dict[str, Snapshot] = {}

    def __len__(self) -> int:
        return len(self._by_uid)

    def __contains__(self, uid: object) -> bool:
        return uid in self._by_uid

    def get(self, uid: str) -> Snapshot | None:
        return self._by_uid.get(uid)

    def resource_version(self, uid: str) -> str | None:
        snapshot = self._by_uid.get(uid)
        return None if snapshot is None else snapshot.metadata.resource_version

    def remember(self, snapshot: Snapshot) -> None:
        self._by_uid[snapshot.metadata.uid] = stand_in(snapshot)

    def forget(self, uid: str) -> None:
        self._by_uid.pop(uid, None)

    def uids(self) -> Iterator[str]:
        return iter(self._by_uid)


def stand_in(snapshot: Snapshot) -> Snapshot:
    """The smallest snapshot of the same type a relist diff and a deletion can work with."""
    meta = snapshot.metadata
    if meta.deletion_timestamp:
        return snapshot
    small = type(meta)(
        name=meta.name,
        namespace=sys.intern(meta.namespace),
        uid=meta.uid,
        resource_version=meta.resource_version,
        owner_references=meta.owner_references,
    )
    if isinstance(snapshot, Pod):
        return Pod(metadata=small, spec=PodSpec(node_name=sys.intern(snapshot.spec.node_name)))
    return type(snapshot)(metadata=small)  # type: ignore[call-arg]


def diff_relist(known: KnownObjects, listed: Iterable[Snapshot]) -> list[tuple[Change, Snapshot]]:
    """The changes that take `known` to `listed`, and update `known` to match.

    Order: vanished objects first (they went before the list was taken), then the
    listed ones in list order.
    """
    changes: list[tuple[Change, Snapshot]] = []
    listed_uids: set[str] = set()
    present: list[tuple[Change, Snapshot]] = []
    for snapshot in listed:
        uid = snapshot.metadata.uid
        listed_uids.add(uid)
        before = known.get(uid)
        if before is None:
            present.append((Change.ADDED, snapshot))
        elif before.metadata.resource_version != snapshot.metadata.resource_version:
            present.append((Change.MODIFIED, snapshot))
        else:
            continue
        known.remember(snapshot)
    for uid in [uid for uid in known.uids() if uid not in listed_uids]:
        gone = known.get(uid)
        assert gone is not None
        changes.append((Change.RELISTED_GONE, gone))
        known.forget(uid)
    changes.extend(present)
    return changes
