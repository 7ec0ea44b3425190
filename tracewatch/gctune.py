"""Garbage-collector settings for a process of tracewatch's own (the command, the simulator).

The pipeline allocates a few container objects per watch line (snapshots, observations,
lifecycle state, span records) that nearly all die young by reference counting, while it
holds a large long-lived heap (every tracked object's state, the informers' caches; the
simulator: its resource tables and every object's bytes). With CPython's default
thresholds a young collection runs every 700 net allocations and, every so often, a full
one over the whole heap: measured on the throughput benchmark's replay, about 5% of the
pipeline's time per line, growing with the number of objects held (bench/README.md); in
the simulator, a fifth of its CPU at hundreds of pod startups per second.
Freezing what start-up allocated and collecting the young generation less often keeps
the collector's share small; reference counting still frees everything acyclic at once.

Only a process that runs tracewatch and nothing else calls this: the `tracewatch`
command (`cli.entry`), `tracewatch sim`, the benchmarks. A library never retunes its
host's collector, so `cli.main` (which tests and embedders call) leaves it alone.
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
