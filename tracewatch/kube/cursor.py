"""The watch cursor: where the next list or watch request starts, as explicit state.

Modelled on client-go's reflector (`lastSyncResourceVersion`,
`isLastSyncResourceVersionUnavailable`): the informer records what happened on the
cursor, and the pure `next_request` says what to ask the API server next.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["NextRequest", "Verb", "WatchCursor", "next_request"]


class Verb(enum.Enum):
    LIST = "list"
    WATCH = "watch"


@dataclass(frozen=True, slots=True)
class NextRequest:
    verb: Verb
    resource_version: str
    """"" means unset (a quorum read of the latest state)."""


@dataclass(slots=True)
class WatchCursor:
    """What the informer knows about its position in the resource's history."""

    resource_version: str = ""
    """The newest resourceVersion seen (list, event or bookmark)."""
    needs_list: bool = True
    """True before the first list and after a 410: the watch cannot continue."""
    version_unavailable: bool = False
    """True when listing at resource_version itself got a 410: relist from the latest."""

    def listed(self, resource_version: str) -> None:
        self.resource_version = resource_version
        self.needs_list = False
        self.version_unavailable = False

    def advanced(self, resource_version: str) -> None:
        if resource_version:  # a server may omit it on a bookmark; keep the last one known
            self.resource_version = resource_version

    def watch_expired(self) -> None:
        """410 on watch: history compacted past our version; the next request is a relist."""
        self.needs_list = True

    def list_expired(self) -> None:
        """410 on list (stale version or expired continue token): relist from the latest."""
        self.needs_list = True
        self.version_unavailable = True


def next_request(cursor: WatchCursor) -> NextRequest:
    """The request that continues from `cursor`.

    A first list asks for "0" (served from the API server's watch cache: cheap for
    the server, possibly a little stale, which the watch then catches up on); a
    relist asks for "not older than" our last version, so the diff never goes back
    in time; if that version is gone too, a quorum read of the latest state.
    """
    if cursor.needs_list:
        if cursor.version_unavailable:
            return NextRequest(Verb.LIST, "")
        return NextRequest(Verb.LIST, cursor.resource_version or "0")
    return NextRequest(Verb.WATCH, cursor.resource_version)
