"""The informer's happy path against a fake API server: list, then watch with rv tracking."""

from __future__ import annotations

import asyncio
import contextlib

from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer

from .kube_fakes import (
    Collected,
    FakeApi,
    FakeTime,
    Reply,
    Watch,
    bookmark,
    line,
    options,
    pod,
    pod_list,
    run_until,
)


async def test_list_then_watch_tracks_resource_versions(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Listed items arrive ADDED; watch from the list's rv, each re-watch from the last rv."""
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5"), pod("b", "6")], "10")))
    fake_api.watches.append(
        Watch([line("MODIFIED", pod("a", "11", phase="Running")), line("ADDED", pod("c", "12"))])
    )
    fake_api.watches.append(Watch([line("DELETED", pod("b", "14"))]))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(sink) == 5 and len(fake_api.watch_requests()) == 3)

    assert sink.summary() == [
        ("ADDED", "a", "5"),
        ("ADDED", "b", "6"),
        ("MODIFIED", "a", "11"),
        ("ADDED", "c", "12"),
        ("DELETED", "b", "14"),
    ]
    assert sink[2].obj.status.phase == "Running"
    assert all(o.resource == "pods" for o in sink)
    lists, watches = fake_api.list_requests(), fake_api.watch_requests()
    assert lists[0].path == "/api/v1/pods"
    assert lists[0].query["resourceVersion"] == "0"
    assert [w.query["resourceVersion"] for w in watches[:3]] == ["10", "12", "14"]
    assert watches[0].query["allowWatchBookmarks"] == "true"
    assert informer.has_synced
    assert informer.resource_version == "14"
    assert informer.known_objects == 2
    assert informer.stats.observations == 5
    assert informer.stats.restarts["stream_ended"] == 2


async def test_bookmarks_advance_the_resource_version(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A bookmark delivers nothing but moves the next watch's rv forward."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(Watch([bookmark("20"), bookmark("25")]))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 2)

    assert fake_api.watch_requests()[1].query["resourceVersion"] == "25"
    assert sink == []


async def test_timeout_seconds_is_drawn_from_the_configured_range(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Each watch asks the server for a timeoutSeconds drawn from the options' range."""
    draws = iter([0.0, 0.999])
    fake_api.lists.append(Reply(body=pod_list([], "1")))
    fake_api.watches.append(Watch([bookmark("2")]))
    informer = Informer(
        connection=connection,
        resource="pods",
        sink=Collected(),
        options=options(
            fake_time, random=lambda: next(draws, 0.5), watch_timeout_seconds=(300, 600)
        ),
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 2)

    assert [w.query["timeoutSeconds"] for w in fake_api.watch_requests()] == ["300", "600"]


async def test_malformed_line_is_skipped_and_counted(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A line that does not decode is counted and skipped; the lines around it are delivered."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(
        Watch(
            [
                line("ADDED", pod("a", "11")),
                b'{"type": "ADDED", "object": {"metadata": {"name": 1',
                line("ADDED", pod("b", "12")),
            ],
            then="hold",
        )
    )
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(sink) == 2)

    assert [o.obj.metadata.name for o in sink] == ["a", "b"]
    assert informer.stats.decode_errors == 1
    assert informer.resource_version == "12"


async def test_an_event_replayed_at_a_known_version_is_not_delivered_twice(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """An ADDED/MODIFIED at the version already delivered for that uid is dropped and counted."""
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5")], "10")))
    fake_api.watches.append(
        Watch([line("ADDED", pod("a", "5")), line("MODIFIED", pod("a", "11"))], then="hold")
    )
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(sink) == 2)

    assert sink.summary() == [("ADDED", "a", "5"), ("MODIFIED", "a", "11")]
    assert informer.stats.duplicates == 1


async def test_observations_carry_the_injected_receipt_time(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """observed_at_ns comes from the options' clock, increasing in delivery order."""
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5")], "10")))
    fake_api.watches.append(Watch([line("MODIFIED", pod("a", "11"))], then="hold"))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(sink) == 2)

    stamps = [o.observed_at_ns for o in sink]
    assert stamps[0] > 1_700_000_000_000_000_000
    assert stamps[0] < stamps[1] <= fake_time.clock_ns()


async def test_paged_list_follows_continue_tokens(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A list follows `continue` (without resourceVersion) and watches from the final page's rv."""
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5")], "10", continue_token="page2")))
    fake_api.lists.append(Reply(body=pod_list([pod("b", "6")], "10")))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time, page_size=1)
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 1)

    first, second = fake_api.list_requests()
    assert (first.query["limit"], first.query["resourceVersion"]) == ("1", "0")
    assert second.query["continue"] == "page2"
    assert "resourceVersion" not in second.query
    assert [o.obj.metadata.name for o in sink] == ["a", "b"]
    assert fake_api.watch_requests()[0].query["resourceVersion"] == "10"


async def test_namespace_and_label_selector_reach_the_requests(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A namespaced informer uses the namespace path and its label selector on list and watch."""
    fake_api.lists.append(Reply(body=pod_list([], "3")))
    informer = Informer(
        connection=connection,
        resource="pods",
        namespace="team-a",
        label_selector="app=web",
        sink=Collected(),
        options=options(fake_time),
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 1)

    for request in fake_api.requests:
        assert request.path == "/api/v1/namespaces/team-a/pods"
        assert request.query["labelSelector"] == "app=web"


async def test_async_sink_is_awaited_in_order(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A coroutine sink (e.g. Queue.put) is awaited for each observation, preserving order."""
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)
    fake_api.lists.append(Reply(body=pod_list([pod("a", "1"), pod("b", "2")], "3")))
    informer = Informer(
        connection=connection, resource="pods", sink=queue.put, options=options(fake_time)
    )
    received: list[str] = []

    async def consume() -> None:
        while True:
            observation = await queue.get()
            received.append(observation.obj.metadata.name)  # type: ignore[attr-defined]

    consumer = asyncio.create_task(consume())
    await run_until(informer, lambda: received == ["a", "b"] and informer.has_synced)
    consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer
