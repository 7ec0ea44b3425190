"""The watch layer's pure parts: cursor's next request, backoff, relist diffs, resources."""

from __future__ import annotations

import msgspec
import pytest

from tracewatch.core.observations import Change
from tracewatch.core.snapshots import Container, ObjectMeta, Pod, PodSpec
from tracewatch.kube.backoff import Backoff, BackoffPolicy
from tracewatch.kube.cursor import NextRequest, Verb, WatchCursor, next_request
from tracewatch.kube.relisting import KnownObjects, diff_relist
from tracewatch.kube.resources import RESOURCES, resource_named


def cursor_after(*steps: tuple[str, str]) -> WatchCursor:
    cursor = WatchCursor()
    for step, rv in steps:
        getattr(cursor, step)(*([rv] if rv is not None else []))
    return cursor


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ((), NextRequest(Verb.LIST, "0")),
        ((("listed", "10"),), NextRequest(Verb.WATCH, "10")),
        ((("listed", "10"), ("advanced", "15")), NextRequest(Verb.WATCH, "15")),
        ((("listed", "10"), ("advanced", "")), NextRequest(Verb.WATCH, "10")),
        (
            (("listed", "10"), ("advanced", "15"), ("watch_expired", None)),
            NextRequest(Verb.LIST, "15"),
        ),
        (
            (("listed", "10"), ("watch_expired", None), ("list_expired", None)),
            NextRequest(Verb.LIST, ""),
        ),
        (
            (("listed", "10"), ("watch_expired", None), ("list_expired", None), ("listed", "30")),
            NextRequest(Verb.WATCH, "30"),
        ),
    ],
)
def test_next_request(steps: tuple[tuple[str, str | None], ...], expected: NextRequest) -> None:
    """Next request per client-go: list at 0, watch from the last rv, relist on 410."""
    assert next_request(cursor_after(*steps)) == expected


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    """Without jitter the delays double from `initial` up to `cap`; reset starts over."""
    backoff = Backoff(
        policy=BackoffPolicy(initial=1.0, factor=2.0, cap=5.0, jitter=0.5), random_fn=lambda: 0.5
    )
    assert [backoff.next_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next_delay() == 1.0


@pytest.mark.parametrize("draw", [0.0, 0.999])
def test_backoff_jitter_stays_within_bounds(draw: float) -> None:
    """Jitter spreads a delay over [1 - j/2, 1 + j/2] of nominal and never past the cap."""
    backoff = Backoff(
        policy=BackoffPolicy(initial=2.0, cap=3.0, jitter=0.5), random_fn=lambda: draw
    )
    first = backoff.next_delay()
    assert 1.5 <= first <= 2.5
    assert first != 2.0
    assert backoff.next_delay() <= 3.0


def test_backoff_survives_a_long_outage() -> None:
    """Thousands of consecutive failures keep returning the cap (no overflow)."""
    backoff = Backoff(policy=BackoffPolicy(cap=30.0, jitter=0.0))
    delays = [backoff.next_delay() for _ in range(5000)]
    assert delays[-1] == 30.0


def snap(uid: str, rv: str) -> Pod:
    return Pod(metadata=ObjectMeta(name=f"n-{uid}", uid=uid, resource_version=rv))


def test_diff_relist_reports_gone_changed_and_new_but_not_unchanged() -> None:
    """Vanished -> RELISTED_GONE with what was known of it, new rv -> MODIFIED, new uid ->
    ADDED, unchanged -> nothing."""
    known = KnownObjects()
    for s in (snap("a", "1"), snap("b", "2"), snap("c", "3")):
        known.remember(s)
    last_b = known.get("b")
    changes = diff_relist(known, [snap("a", "1"), snap("c", "9"), snap("d", "10")])
    assert [(c, s.metadata.uid, s.metadata.resource_version) for c, s in changes] == [
        (Change.RELISTED_GONE, "b", "2"),
        (Change.MODIFIED, "c", "9"),
        (Change.ADDED, "d", "10"),
    ]
    assert changes[0][1] == last_b  # a stand-in rebuilt from the brief record
    assert changes[0][1].metadata.name == "n-b"
    assert sorted(known.uids()) == ["a", "c", "d"]
    assert known.resource_version("c") == "9"
    assert diff_relist(known, [snap("a", "1"), snap("c", "9"), snap("d", "10")]) == []


def test_known_objects_keep_a_brief_record_but_whole_snapshots_of_deleting_ones() -> None:
    """Idle objects are remembered briefly (a stand-in comes back: same name, version, node);
    an object being deleted is kept whole, its statuses time the kill."""
    known = KnownObjects()
    full = Pod(
        metadata=ObjectMeta(name="web", namespace="prod", uid="u", resource_version="4"),
        spec=PodSpec(node_name="node-1", containers=(Container(name="app"),)),
    )
    known.remember(full)
    brief = known.get("u")
    assert brief is not None and brief is not full
    assert (
        brief.metadata.name,
        brief.metadata.namespace,
        brief.metadata.resource_version,
        brief.spec.node_name,
        brief.spec.containers,
    ) == ("web", "prod", "4", "node-1", ())
    deleting = msgspec.structs.replace(
        full,
        metadata=msgspec.structs.replace(full.metadata, deletion_timestamp="2024-01-01T00:00:00Z"),
    )
    known.remember(deleting)
    assert known.get("u") is deleting


def test_first_list_is_all_added() -> None:
    """Against empty known state every listed object is ADDED, in list order."""
    known = KnownObjects()
    changes = diff_relist(known, [snap("x", "1"), snap("y", "2")])
    assert [(c, s.metadata.uid) for c, s in changes] == [(Change.ADDED, "x"), (Change.ADDED, "y")]
    assert len(known) == 2


def test_resource_paths() -> None:
    """Collection paths are cluster-wide without a namespace and namespaced with one."""
    pods = resource_named("pods")
    assert pods.path() == "/api/v1/pods"
    assert pods.path(namespace="team-a") == "/api/v1/namespaces/team-a/pods"
    assert RESOURCES["events"].path() == "/api/v1/events"
    with pytest.raises(ValueError, match=r"known: daemonsets, deployments, events, .*, pods, "):
        resource_named("widgets")
    assert RESOURCES["nodes"].path(namespace="ignored") == "/api/v1/nodes"
    deployments = RESOURCES["deployments"]
    assert deployments.path(namespace="web") == "/apis/apps/v1/namespaces/web/deployments"
