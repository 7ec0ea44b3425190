"""One module per lifecycle kind; each turns snapshots of its objects into spans.

`TRACKERS` is the registry: a new kind is one module and one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tracewatch.core.kinds.base import Tracker
from tracewatch.core.kinds.claims import ClaimTracker
from tracewatch.core.kinds.pod import PodTracker
from tracewatch.core.kinds.workloads import RULES, WorkloadTracker

TRACKERS: tuple[Callable[[], Tracker], ...] = (
    PodTracker,
    ClaimTracker,
    *(partial(WorkloadTracker, rules) for rules in RULES),
)
