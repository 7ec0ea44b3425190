"""Liveness from the inside: a task that measures how late the event loop runs its timers.

Every `interval_s` the monitor sleeps and measures how much longer than asked
the sleep took: that excess is the loop lag (a blocking call, a CPU-bound
burst, starvation). `/healthz` is answered from it: healthy while the monitor
has ticked recently and the last lag is under the limit. A loop blocked for
good does not answer at all, which the kubelet's probe timeout catches; the
monitor catches the loop that still answers but is starved, and its own death.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Health", "LoopMonitor"]


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    lag_s: float
    since_tick_s: float
    reason: str = ""


class LoopMonitor:
    """Measures event-loop lag every `interval_s`; `check()` says whether the loop is healthy."""

    def __init__(
        self,
        *,
        interval_s: float = 0.5,
        max_lag_s: float = 5.0,
        on_lag: Callable[[float], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.max_lag_s = max_lag_s
        self._on_lag = on_lag
        self._monotonic = monotonic
        self.lag_s = 0.0
        self.last_tick = monotonic()

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            before = self._monotonic()
            await asyncio.sleep(self.interval_s)
            now = self._monotonic()
            self.lag_s = max(0.0, now - before - self.interval_s)
            self.last_tick = now
            if self._on_lag is not None:
                self._on_lag(self.lag_s)

    def check(self) -> Health:
        """Unhealthy when the last lag exceeded the limit or the monitor stopped ticking."""
        since = self._monotonic() - self.last_tick
        if since > self.interval_s + self.max_lag_s:
            return Health(False, self.lag_s, since, "loop monitor has not ticked")
        if self.lag_s > self.max_lag_s:
            return Health(False, self.lag_s, since, "event loop lagging")
        return Health(True, self.lag_s, since)
