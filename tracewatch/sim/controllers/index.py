"""An owner-reference index over every resource, as the garbage collector's graph keeps it.

Controllers ask it for their dependents (a ReplicaSet's pods) without scanning
a namespace; the garbage collector asks it what to delete when an owner goes.
Fed by store listeners, so it is always as current as the store.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tracewatch.sim.store import Key

Node = tuple[str, Key]
"""(resource, (namespace, name))."""


class OwnerIndex:
    """uid -> object, and owner uid -> dependents (every owner reference, not only controllers)."""

    def __init__(self) -> None:
        self._objects: dict[str, Node] = {}
        self._owners: dict[str, tuple[str, ...]] = {}
        self._dependents: dict[str, set[Node]] = defaultdict(set)

    def observe(self, resource: str, type_: str, obj: dict[str, Any]) -> None:
        """Store listener body: keep the graph current for one write."""
        meta = obj["metadata"]
        uid = meta.get("uid")
        if not uid:
            return
        refs = meta.get("ownerReferences")
        if not refs and type_ == "MODIFIED" and uid not in self._owners and uid in self._objects:
            return  # the common write: nothing to relink
        node: Node = (resource, (meta.get("namespace", ""), meta["name"]))
        for owner in self._owners.pop(uid, ()):
            deps = self._dependents.get(owner)
            if deps is not None:
                deps.discard(node)
                if not deps:
                    del self._dependents[owner]
        if type_ == "DELETED":
            self._objects.pop(uid, None)
            return
        self._objects[uid] = node
        owners = tuple(ref["uid"] for ref in refs if ref.get("uid")) if refs else ()
        if owners:
            self._owners[uid] = owners
            for owner in owners:
                self._dependents[owner].add(node)

    def dependents(self, owner_uid: str, *, resource: str | None = None) -> list[Node]:
        """Objects with an owner reference to `owner_uid` (optionally of one resource), sorted."""
        return sorted(
            n for n in self._dependents.get(owner_uid, ()) if resource is None or n[0] == resource
        )

    def locate(self, uid: str) -> Node | None:
        """Where the object with this uid lives, if it exists."""
        return self._objects.get(uid)

    def owners_of(self, uid: str) -> tuple[str, ...]:
        return self._owners.get(uid, ())
