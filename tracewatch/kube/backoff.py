"""Capped, jittered exponential backoff, with the randomness injectable for tests."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffPolicy"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BackoffPolicy:
    """client-go's reflector defaults: 0.8 s doubling to 30 s.

    At the cap, a failing informer costs the API server two requests a minute.
    `jitter` spreads each delay over [1 - jitter/2, 1 + jitter/2] times its nominal
    value, so informers that failed together (an API server restart) do not retry
    in lockstep.
    """

    initial: float = 0.8
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5


class Backoff:
    """The delay sequence for one run of consecutive failures; `reset()` after a success."""

    __slots__ = ("_attempt", "_policy", "_random")

    def __init__(
        self, *, policy: BackoffPolicy, random_fn: Callable[[], float] = random.random
    ) -> None:
        self._policy = policy
        self._random = random_fn
        self._attempt = 0

    @property
    def attempt(self) -> int:
        return self._attempt

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one more failure."""
        policy = self._policy
        nominal = min(policy.cap, policy.initial * policy.factor**self._attempt)
        if nominal < policy.cap:  # stop counting at the cap: no float overflow on long outages
            self._attempt += 1
        spread = 1.0 + policy.jitter * (self._random() - 0.5)
        return min(policy.cap, nominal * spread)

    def reset(self) -> None:
        self._attempt = 0
