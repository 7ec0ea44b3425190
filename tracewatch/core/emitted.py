"""Which lifecycles were emitted already: what a state file keeps, and what stops a re-emit.

Per uid, the set of lifecycle keys emitted ("create", "delete", "gen-3", ...). The
small sets most objects end with are shared: 100k idle pods hold one
frozenset({"create"}), not 100k sets.
"""

from __future__ import annotations

from collections.abc import Iterable


class EmittedLifecycles:
    """(uid, key) pairs emitted so far, kept compactly by uid."""

    __slots__ = ("_by_uid", "_shared")

    def __init__(self, emitted: Iterable[tuple[str, str]] = ()) -> None:
        self._by_uid: dict[str, frozenset[str]] = {}
        self._shared: dict[frozenset[str], frozenset[str]] = {}
        for uid, key in emitted:
            self.add(uid, key)

    def __contains__(self, uid: object) -> bool:
        """Whether any lifecycle of this uid was emitted."""
        return uid in self._by_uid

    def has(self, uid: str, key: str) -> bool:
        return key in self._by_uid.get(uid, ())

    def add(self, uid: str, key: str) -> None:
        known = self._by_uid.get(uid)
        keys = frozenset((key,)) if known is None else known | {key}
        # Share the common small sets ({"create"}, {"create", "delete"}); a workload's
        # growing set of generations stays its own.
        self._by_uid[uid] = self._shared.setdefault(keys, keys) if len(keys) <= 2 else keys

    def discard(self, uid: str) -> None:
        """Forget a gone object's keys."""
        self._by_uid.pop(uid, None)

    def pairs(self) -> set[tuple[str, str]]:
        return {(uid, key) for uid, keys in self._by_uid.items() for key in keys}
