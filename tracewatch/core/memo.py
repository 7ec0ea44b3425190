"""Bounded memos: the one rule every per-value cache on the hot paths follows.

Parsed timestamps, container names, encoded attribute pairs and the like are
remembered by the text or value they came from. Their keys come from the data,
so a memo cannot grow without bound: one that is full is cleared before the next
store (a flood of novel keys just resets it; the usual few come back at once).
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """`memo[key] = value`, returned; a memo already holding `limit` entries is cleared first."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
