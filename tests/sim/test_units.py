"""Pure pieces of the simulator: time formats, selectors, latencies, the store's encoding."""

from __future__ import annotations

import asyncio
import random

import orjson
import pytest

from tracewatch.sim import Latency
from tracewatch.sim.errors import ApiError
from tracewatch.sim.resources import CORE_V1, PODS
from tracewatch.sim.selectors import (
    Selectable,
    parse_field_selector,
    parse_label_selector,
    selectable,
)
from tracewatch.sim.store import Expired, ObjectStore, WatchEntry
from tracewatch.sim.tasks import TaskSet
from tracewatch.sim.timestamps import event_name, go_duration_ms, micro_time, rfc3339
from tracewatch.sim.truth import GroundTruth

INSTANT = 1_704_164_645_123_456_789  # 2024-01-02T03:04:05.123456789Z


def test_timestamps_truncate_like_kubernetes() -> None:
    """Seconds and microseconds are truncated, never rounded; names carry the full ns in hex."""
    assert rfc3339(INSTANT) == "2024-01-02T03:04:05Z"
    assert micro_time(INSTANT) == "2024-01-02T03:04:05.123456Z"
    assert event_name("web-1", INSTANT) == "web-1.17a668b7375cff15"
    assert int(event_name("web-1", INSTANT).rsplit(".", 1)[1], 16) == INSTANT


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (614_999_999, "614ms"),
        (2_050_000_000, "2.05s"),
        (2_000_000_000, "2s"),
        (61_234_000_000, "1m1.234s"),
    ],
)
def test_go_durations(ns: int, text: str) -> None:
    """Pull durations print as Go's Duration.String() of a ms-truncated value."""
    assert go_duration_ms(ns) == text


def _pod(labels: dict[str, str] | None = None, node: str = "") -> Selectable:
    obj = {
        "metadata": {"name": "p", "namespace": "ns", "labels": labels},
        "spec": {"nodeName": node},
    }
    return selectable(PODS, obj)


def test_label_selectors_equality_and_sets() -> None:
    """=, ==, !=, in, notin, exists and !exists behave as Kubernetes defines them."""
    web = _pod({"app": "web", "tier": "front"})
    bare = _pod(None)
    cases = {
        "app=web": (True, False),
        "app==web,tier=front": (True, False),
        "app!=db": (True, True),
        "app in (web, db)": (True, False),
        "app notin (web)": (False, True),
        "tier": (True, False),
        "!tier": (False, True),
        "": (True, True),
    }
    for text, (on_web, on_bare) in cases.items():
        selector = parse_label_selector(text)
        assert (selector.matches(web), selector.matches(bare)) == (on_web, on_bare), text


def test_field_selectors_and_unknown_fields() -> None:
    """Supported fields match by string value; an unknown field is a 400 ApiError."""
    bound = _pod(node="node-1")
    fields = PODS.field_labels
    assert parse_field_selector("spec.nodeName=node-1", supported=fields, resource="pods").matches(
        bound
    )
    assert not parse_field_selector(
        "spec.nodeName!=node-1", supported=fields, resource="pods"
    ).matches(bound)
    assert parse_field_selector("spec.nodeName=", supported=fields, resource="pods").matches(_pod())
    with pytest.raises(ApiError) as caught:
        parse_field_selector("spec.image=x", supported=fields, resource="pods")
    assert caught.value.code == 400


def test_latency_draws_stay_in_bounds_and_are_seeded() -> None:
    """Draws lie within [low, high] and a seed makes them reproducible."""
    latency = Latency(low=0.1, high=0.3, mode=0.15)
    first = [latency.draw(random.Random(3)) for _ in range(5)]
    assert first == [latency.draw(random.Random(3)) for _ in range(5)]
    assert all(0.1 <= d <= 0.3 for d in first)
    assert Latency.fixed(0.2).draw(random.Random()) == 0.2
    with pytest.raises(ValueError):
        Latency(low=0.5, high=0.1)


class _Sink:
    def __init__(self) -> None:
        self.entries: list[WatchEntry] = []

    def offer(self, entry: WatchEntry) -> None:
        self.entries.append(entry)


def test_store_encodes_each_write_once_for_all_watchers() -> None:
    """Every watcher receives the same entry, sharing the bytes serialized once at the write."""
    store = ObjectStore(resources=CORE_V1, history_size=10)
    sinks = [_Sink(), _Sink()]
    for sink in sinks:
        store.subscribe("pods", sink)
    stored = store.put("pods", {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}})
    [a], [b] = (s.entries for s in sinks)
    assert a is b
    assert a.pieces("ADDED")[1] is stored.data
    assert a.line("ADDED") == b'{"type":"ADDED","object":' + stored.data + b"}\n"
    assert stored.data.startswith(PODS.item_prefix)


def test_store_history_window_and_expiry() -> None:
    """The history keeps the last N writes per resource; older cursors raise Expired."""
    store = ObjectStore(resources=CORE_V1, history_size=2)
    start = store.rv
    for name in ("a", "b", "c"):
        store.put("pods", {"metadata": {"name": name, "namespace": "ns"}})
    with pytest.raises(Expired):
        store.since("pods", start)
    replay = store.since("pods", start + 1)
    assert [orjson.loads(e.data)["metadata"]["name"] for e in replay] == ["b", "c"]
    assert store.since("events", start) == []


async def test_truth_futures_resolve_on_record_unless_forgotten() -> None:
    """A truth future resolves with the recorded instant (at once if known); a forgotten never."""
    truth = GroundTruth()
    waiting, dropped = truth.future("u", "ready"), truth.future("u", "ready")
    truth.forget("u", "ready", dropped)
    truth.record("u", "ready", INSTANT)
    assert waiting.result() == INSTANT
    assert not dropped.done()
    assert truth.future("u", "ready").result() == INSTANT


async def test_later_calls_run_keep_failures_and_stop_at_cancel_all() -> None:
    """A `later` call runs after its delay, a failing one is kept, and cancel_all drops the rest."""
    tasks = TaskSet()
    calls: list[str] = []

    def fail() -> None:
        raise ValueError("bug")

    tasks.later(0.0, calls.append, "ran")
    tasks.later(0.0, fail)
    for _ in range(3):
        await asyncio.sleep(0)  # a few loop turns: the due calls run
    tasks.later(0.0, calls.append, "dropped")
    await tasks.cancel_all()
    for _ in range(3):
        await asyncio.sleep(0)
    assert calls == ["ran"]
    assert [str(e) for e in tasks.failures] == ["bug"]
