"""Failures the informer survives: 5xx, 429, 401/403, dead and broken streams, cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from structlog.testing import capture_logs

from tracewatch.kube.connection import ApiConnection
from tracewatch.kube.informer import Informer

from .kube_fakes import (
    Collected,
    FakeApi,
    FakeTime,
    Reply,
    Watch,
    line,
    options,
    pod,
    pod_list,
    run_until,
)


async def test_5xx_backs_off_then_recovers_from_the_same_version(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """5xx backs off exponentially, retries from the last rv; an accepted watch resets the
    backoff and clears the error even before its first line."""
    fake_api.lists.append(Reply.error(500, "InternalError", "etcd leader changed"))
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5")], "10")))
    fake_api.watches.extend(
        [Reply.error(503, "ServiceUnavailable"), Reply.error(500, "InternalError")]
    )
    fake_api.watches.append(Watch([line("MODIFIED", pod("a", "11"))]))
    fake_api.watches.append(Reply.error(500, "InternalError"))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(
        informer, lambda: len(fake_api.watch_requests()) == 5 and informer.last_error is None
    )

    assert fake_time.sleeps == [0.8, 0.8, 1.6, 0.8]
    assert [w.query["resourceVersion"] for w in fake_api.watch_requests()] == [
        "10",
        "10",
        "10",
        "11",
        "11",
    ]
    assert sink.summary() == [("ADDED", "a", "5"), ("MODIFIED", "a", "11")]
    assert informer.stats.restarts["server_error"] == 4


async def test_429_waits_for_retry_after(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """429 waits exactly the server's Retry-After (capped by the options), not the backoff."""
    fake_api.lists.append(Reply.error(429, "TooManyRequests", "slow down", **{"Retry-After": "7"}))
    fake_api.lists.append(Reply.error(429, "TooManyRequests", "", **{"Retry-After": "100000"}))
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    informer = Informer(
        connection=connection,
        resource="pods",
        sink=Collected(),
        options=options(fake_time, max_retry_after=60.0),
    )

    await run_until(informer, lambda: informer.has_synced)

    assert fake_time.sleeps == [7.0, 60.0]
    assert informer.stats.restarts["throttled"] == 2
    assert informer.last_error is None


async def test_forbidden_logs_one_clear_line_and_keeps_retrying(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Repeated 403s log one error naming resource and verb, back off, and recover when allowed."""
    message = 'pods is forbidden: User "system:serviceaccount:tw:tw" cannot list resource "pods"'
    fake_api.lists.extend([Reply.error(403, "Forbidden", message)] * 3)
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    states: list[bool] = []

    async def backoff(delay: float) -> None:
        # Looked at in each back-off sleep, not by polling: the three 403s and the recovery
        # can all come between two polls.
        states.append(informer.auth_failing)
        await fake_time.sleep(delay)

    informer = Informer(
        connection=connection,
        resource="pods",
        sink=Collected(),
        options=options(fake_time, sleep=backoff),
    )

    with capture_logs() as logs:
        await run_until(informer, lambda: informer.has_synced)

    denied = [e for e in logs if e["event"] == "kube.permission_denied"]
    assert len(denied) == 1
    assert denied[0]["log_level"] == "error"
    assert (denied[0]["resource"], denied[0]["verb"], denied[0]["status"]) == ("pods", "list", 403)
    assert denied[0]["message"] == message
    assert fake_time.sleeps == [0.8, 1.6, 3.2]
    assert informer.stats.restarts["forbidden"] == 3
    assert states == [True, True, True] and not informer.auth_failing
    assert any(e["event"] == "kube.permission_restored" for e in logs)


async def test_unauthorized_watch_is_reported_as_watch(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A 401 on the watch names the verb 'watch' and counts as unauthorized."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(Reply.error(401, "Unauthorized", "Unauthorized"))
    informer = Informer(
        connection=connection, resource="pods", sink=Collected(), options=options(fake_time)
    )

    with capture_logs() as logs:
        await run_until(informer, lambda: len(fake_api.watch_requests()) == 2)

    denied = [e for e in logs if e["event"] == "kube.permission_denied"]
    assert [(e["verb"], e["status"]) for e in denied] == [("watch", 401)]
    assert informer.stats.restarts["unauthorized"] == 1


async def test_silent_stream_reconnects_after_the_read_timeout(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A silent stream is dropped after the read timeout and re-watched from the last rv."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(Watch([line("ADDED", pod("a", "11"))], then="hold"))
    fake_api.watches.append(Watch([line("MODIFIED", pod("a", "12"))], then="hold"))
    sink = Collected()
    informer = Informer(
        connection=connection,
        resource="pods",
        sink=sink,
        options=options(fake_time, read_timeout=0.2),
    )

    await run_until(informer, lambda: len(sink) == 2)

    assert [w.query["resourceVersion"] for w in fake_api.watch_requests()] == ["10", "11"]
    assert informer.stats.restarts["read_timeout"] == 1


async def test_connection_dropped_mid_stream_reconnects_from_the_last_version(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A connection cut mid-stream is a connection failure: backoff, then watch from the last rv."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(
        Watch([line("ADDED", pod("a", "11")), b'{"type": "MODIF'], then="abort")
    )
    fake_api.watches.append(Watch([line("MODIFIED", pod("a", "12"))], then="hold"))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(sink) == 2)

    assert [w.query["resourceVersion"] for w in fake_api.watch_requests()] == ["10", "11"]
    assert informer.stats.restarts["connection"] == 1
    assert len(fake_time.sleeps) == 1


async def test_stream_closed_at_once_counts_as_failure(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A watch that ends immediately with nothing in it backs off instead of spinning."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.extend([Watch([]), Watch([])])
    informer = Informer(
        connection=connection,
        resource="pods",
        sink=Collected(),
        options=options(fake_time, min_watch_seconds=30.0),
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 3)

    assert informer.stats.restarts["short_watch"] == 2
    assert fake_time.sleeps == [0.8, 1.6]


async def test_cancellation_closes_the_open_stream(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Cancelling run() ends promptly and closes the watch connection the server was holding."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    informer = Informer(
        connection=connection, resource="pods", sink=Collected(), options=options(fake_time)
    )
    task = asyncio.create_task(informer.run())
    async with asyncio.timeout(5):
        while not fake_api.watch_requests():
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.02)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        while fake_api.disconnects == 0:
            await asyncio.sleep(0.005)
    assert task.cancelled()
