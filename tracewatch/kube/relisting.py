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
from typing import Any, NamedTuple

import msgspec

from tracewatch.core.observations import Change
from tracewatch.core.snapshots import ObjectMeta, Pod, PodSpec, Snapshot

__all__ = ["KnownObjects", "diff_page", "diff_relist", "vanished"]

_OWNERS_SLACK = 1024


class _Brief(NamedTuple):
    """What is kept of an idle object: enough to diff a relist and report it gone."""

    snapshot_type: type
    version_and_name: str
    """resourceVersion, NUL, name: one string instead of two (an object name never
    holds a NUL). Each object kept per idle pod costs its size and its share of
    allocator fragmentation, at 100k pods."""
    namespace: str
    node: str
    owner_references: tuple[Any, ...]

    @property
    def resource_version(self) -> str:
        return self.version_and_name.rpartition("\0")[0]

    @property
    def name(self) -> str:
        return self.version_and_name.rpartition("\0")[2]


class KnownObjects:
    """uid -> what we know of the last version seen.

    For most objects a brief record: name, namespace, resourceVersion, owners and a
    pod's node, from which a stand-in snapshot is built only when a relist finds the
    object gone. An object being deleted keeps its whole last snapshot, whose
    container statuses time the kill. Keeping full snapshots of 100k idle pods would
    cost kilobytes each.
    """

    __slots__ = ("_by_uid", "_owners", "_owners_limit")

    def __init__(self) -> None:
        self._by_uid: dict[str, Snapshot | _Brief] = {}
        # One copy of each distinct ownerReferences value: the ten pods of a ReplicaSet
        # share one, instead of ten tuples of structs and strings (~300 bytes each).
        self._owners: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._owners_limit = _OWNERS_SLACK

    def __len__(self) -> int:
        return len(self._by_uid)

    def __contains__(self, uid: object) -> bool:
        return uid in self._by_uid

    def get(self, uid: str) -> Snapshot | None:
        known = self._by_uid.get(uid)
        if isinstance(known, _Brief):
            return _stand_in(uid, known)
        return known

    def resource_version(self, uid: str) -> str | None:
        known = self._by_uid.get(uid)
        if known is None:
            return None
        if isinstance(known, _Brief):
            return known.resource_version
        return known.metadata.resource_version

    def remember(self, snapshot: Snapshot) -> None:
        meta = snapshot.metadata
        if meta.deletion_timestamp:
            self._by_uid[meta.uid] = snapshot
            return
        node = snapshot.spec.node_name if isinstance(snapshot, Pod) else ""
        owners = self._owners.setdefault(meta.owner_references, meta.owner_references)
        if len(self._owners) > self._owners_limit:
            self._prune_owners()
        self._by_uid[meta.uid] = _Brief(
            type(snapshot),
            f"{meta.resource_version}\0{meta.name}",
            sys.intern(meta.namespace),
            sys.intern(node),
            owners,
        )

    def _prune_owners(self) -> None:
        # Owners of forgotten objects; rebuilt from what is still known, at most
        # once per doubling so remembering stays O(1) amortised.
        self._owners = {
            known.owner_references: known.owner_references
            for known in self._by_uid.values() if isinstance(known, _Brief)
        }
        self._owners_limit = 2 * len(self._owners) + _OWNERS_SLACK

    def forget(self, uid: str) -> None:
        self._by_uid.pop(uid, None)

    def uids(self) -> Iterator[str]:
        return iter(self._by_uid)


def _stand_in(uid: str, brief: _Brief) -> Snapshot:
    """The smallest snapshot of the object's type a RELISTED_GONE observation can carry."""
    meta_type = ObjectMeta
    for field in msgspec.structs.fields(brief.snapshot_type):
        if field.name == "metadata":
            meta_type = field.type
    meta = meta_type(
        name=brief.name,
        namespace=brief.namespace,
        uid=uid,
        resource_version=brief.resource_version,
        owner_references=brief.owner_references,
    )
    if brief.snapshot_type is Pod:
        return Pod(metadata=meta, spec=PodSpec(node_name=brief.node))
    return brief.snapshot_type(metadata=meta)


def diff_page(
    known: KnownObjects, listed: Iterable[Snapshot], listed_uids: set[str]
) -> list[tuple[Change, Snapshot]]:
    """The changes one List page shows against `known` (new: ADDED, at a new version:
    MODIFIED, unchanged: nothing); updates `known` and records the page's uids."""
    changes: list[tuple[Change, Snapshot]] = []
    for snapshot in listed:
        uid = snapshot.metadata.uid
        listed_uids.add(uid)
        before = known.get(uid)
        if before is None:
            changes.append((Change.ADDED, snapshot))
        elif before.metadata.resource_version != snapshot.metadata.resource_version:
            changes.append((Change.MODIFIED, snapshot))
        else:
            continue
        known.remember(snapshot)
    return changes


def vanished(known: KnownObjects, listed_uids: set[str]) -> list[tuple[Change, Snapshot]]:
    """Objects known but absent from a complete List: RELISTED_GONE, forgotten."""
    changes: list[tuple[Change, Snapshot]] = []
    for uid in [uid for uid in known.uids() if uid not in listed_uids]:
        gone = known.get(uid)
        assert gone is not None
        changes.append((Change.RELISTED_GONE, gone))
        known.forget(uid)
    return changes


def diff_relist(known: KnownObjects, listed: Iterable[Snapshot]) -> list[tuple[Change, Snapshot]]:
    """The changes that take `known` to `listed`, and update `known` to match.

    Order: vanished objects first (they went before the list was taken), then the
    listed ones in list order.
    """
    listed = list(listed)
    listed_uids = {s.metadata.uid for s in listed}
    return vanished(known, listed_uids) + diff_page(known, listed, set())
