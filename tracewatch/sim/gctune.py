"""Garbage-collector settings for a process that runs the simulator and little else.

The simulator allocates a few short-lived containers per write (tasks, handles,
closures, scratch dicts) while it holds a large, long-lived heap (the app, the
resource tables, every object's bytes). With the default thresholds CPython runs
a young collection every 700 net allocations and, every so often, a full one
over the whole heap: at hundreds of pod startups per second that is a fifth of
the CPU. Freezing what start-up allocated and collecting the young generation
less often keeps the collector's share small. Only a standalone simulator
process (`tracewatch sim`, the benchmarks) calls this; a library never retunes
its host's collector.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net allocations between young collections (CPython's default is 700)."""


def tune_gc(*, young: int = YOUNG_THRESHOLD) -> None:
    """Move everything alive now out of the collector's view and collect the young less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
