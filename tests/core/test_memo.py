"""The bounded memo rule the hot-path caches share."""

from __future__ import annotations

from tracewatch.core.memo import remember


def test_remember_stores_and_returns_the_value() -> None:
    """A stored value is returned and kept under its key."""
    memo: dict[str, int] = {}
    assert remember(memo, "a", 1, 3) == 1
    assert memo == {"a": 1}


def test_a_full_memo_is_cleared_before_the_next_store() -> None:
    """Once a memo holds `limit` entries, the next store starts it afresh with only that key."""
    memo: dict[str, int] = {}
    for i, key in enumerate("abc"):
        remember(memo, key, i, 3)
    assert memo == {"a": 0, "b": 1, "c": 2}
    remember(memo, "d", 3, 3)
    assert memo == {"d": 3}
