"""What the watch layer hands the core: one observed change of one object."""

from __future__ import annotations

import enum

from msgspec import Struct

from tracewatch.core.snapshots import Snapshot


class Change(enum.Enum):
    """The watch event type. RELISTED_GONE is a deletion found by a relist: its time is unknown."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    RELISTED_GONE = "RELISTED_GONE"


# The changes that mean the object is gone. A tuple, tested with `in` (identity first): on
# Python 3.11 spelling `Change.X` per observation is a slow lookup (EnumType defines
# __getattr__), and hashing a member calls Python code.
GONE = (Change.DELETED, Change.RELISTED_GONE)


class Observation(Struct, frozen=True, gc=False):
    """One change as received.

    observed_at_ns is the receipt time (wall clock, ns since the epoch) in live
    mode, or the recorded receipt time in replay. resource is the plural API
    resource name ("pods", "events"), which selects the tracker.
    """

    observed_at_ns: int
    change: Change
    resource: str
    obj: Snapshot
