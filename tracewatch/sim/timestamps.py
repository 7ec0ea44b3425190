"""Wall-clock instants rendered the way Kubernetes writes them.

Every simulated transition takes one `time.time_ns()` reading; the ground truth
keeps the nanoseconds and the objects get timestamps derived from that same
instant, so a test can check that the two agree.
"""

from __future__ import annotations

import functools
import time

NS_PER_S = 1_000_000_000


def now_ns() -> int:
    """The current wall-clock time in ns since the epoch (the simulator's only clock)."""
    return time.time_ns()


@functools.lru_cache(maxsize=256)
def _utc_second(seconds: int) -> str:
    # Every write stamps a few timestamps and most fall in the same second: format it once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def rfc3339(ns: int) -> str:
    """metav1.Time: second precision, UTC, e.g. `2024-01-02T03:04:05Z` (truncated, not rounded)."""
    return _utc_second(ns // NS_PER_S) + "Z"


def micro_time(ns: int) -> str:
    """metav1.MicroTime: microsecond precision, e.g. `2024-01-02T03:04:05.123456Z`."""
    seconds, rest = divmod(ns, NS_PER_S)
    return f"{_utc_second(seconds)}.{rest // 1000:06d}Z"


def event_name(object_name: str, ns: int) -> str:
    """client-go's event name: `<object>.<hex of UnixNano>` of the emitting component's clock."""
    return f"{object_name}.{ns:x}"


def go_duration_ms(ns: int) -> str:
    """A duration truncated to ms, printed like Go's Duration.String() (`614ms`, `2.05s`)."""
    ms = max(ns // 1_000_000, 0)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    seconds, frac = divmod(ms, 1000)
    if seconds >= 60:
        minutes, seconds = divmod(seconds, 60)
        text = f"{seconds}.{frac:03d}".rstrip("0").rstrip(".")
        return f"{minutes}m{text}s"
    return f"{seconds}.{frac:03d}".rstrip("0").rstrip(".") + "s"
