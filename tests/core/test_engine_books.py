"""The engine's books: Events held for objects not seen yet, and lifecycles already emitted."""

from __future__ import annotations

from tracewatch.core.emitted import EmittedLifecycles
from tracewatch.core.pending import PendingEvents

from .builders import SECOND_NS, T0, kubelet_event


def test_pending_events_come_out_in_arrival_order_once() -> None:
    """Events held for a uid are handed over in the order they came, and only once."""
    pending = PendingEvents(ttl_ns=60 * SECOND_NS)
    first = kubelet_event(reason="Pulling", at_ns=T0)
    second = kubelet_event(reason="Pulled", at_ns=T0 + SECOND_NS)
    pending.add("uid-a", first, received_ns=T0, now_ns=T0)
    pending.add("uid-a", second, received_ns=T0 + 1, now_ns=T0 + 1)
    assert pending.take("uid-a") == [(T0, first), (T0 + 1, second)]
    assert pending.take("uid-a") == []


def test_pending_events_older_than_the_ttl_are_dropped_when_many_wait() -> None:
    """Once a thousand uids wait, adding drops those whose last Event is past the TTL,
    and keeps the recent ones."""
    pending = PendingEvents(ttl_ns=60 * SECOND_NS)
    event = kubelet_event(reason="Pulling", at_ns=T0)
    for i in range(1024):
        pending.add(f"old-{i}", event, received_ns=T0, now_ns=T0)
    later = T0 + 61 * SECOND_NS
    pending.add("recent", event, received_ns=later - SECOND_NS, now_ns=later - SECOND_NS)
    pending.add("newest", event, received_ns=later, now_ns=later)
    assert pending.take("old-0") == []
    assert pending.take("old-1023") == []
    assert pending.take("recent") == [(later - SECOND_NS, event)]
    assert pending.take("newest") == [(later, event)]


def test_emitted_lifecycles_share_small_key_sets() -> None:
    """Objects with the same one or two emitted keys share one set; more keys stay their own."""
    emitted = EmittedLifecycles([("a", "create"), ("b", "create")])
    emitted.add("a", "delete")
    emitted.add("b", "delete")
    for key in ("gen-1", "gen-2", "gen-3"):
        emitted.add("w", key)
    assert emitted.has("a", "delete") and emitted.has("b", "create")
    assert not emitted.has("w", "create") and "w" in emitted and "x" not in emitted
    books = emitted._by_uid
    assert books["a"] is books["b"]
    assert all(books["w"] is not shared for shared in emitted._shared.values())
    emitted.discard("a")
    assert emitted.pairs() == {
        ("b", "create"), ("b", "delete"), ("w", "gen-1"), ("w", "gen-2"), ("w", "gen-3")
    }
