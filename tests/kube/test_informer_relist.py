"""410 Gone, in-stream or as HTTP status: the informer relists and delivers only the difference."""

from __future__ import annotations

from tracewatch.core.observations import Change
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
    status,
)

INITIAL = [pod("stays", "5"), pod("changes", "6"), pod("vanishes", "7")]
RELISTED = [pod("stays", "5"), pod("changes", "40", phase="Running"), pod("arrives", "41")]


async def relist_after(
    gone: Watch | Reply, fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> tuple[Informer, Collected]:
    fake_api.lists.append(Reply(body=pod_list(INITIAL, "10")))
    fake_api.watches.append(
        Watch([line("MODIFIED", pod("stays", "5")), line("ADDED", pod("x", "11"))], then="close")
    )
    fake_api.watches.append(gone)
    fake_api.lists.append(Reply(body=pod_list([*RELISTED, pod("x", "11")], "50")))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )
    await run_until(
        informer, lambda: informer.stats.relists == 1 and len(fake_api.watch_requests()) == 3
    )
    return informer, sink


async def test_in_stream_410_relists_and_diffs(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """An ERROR 410 line relists at the last rv: gone, changed, unchanged each handled once."""
    expired = Watch(
        [line("ERROR", status(410, "Expired", "too old resource version: 11 (45)"))], then="hold"
    )
    informer, sink = await relist_after(expired, fake_api, connection, fake_time)

    # Listed objects are delivered page by page as they arrive; what vanished can only be
    # known once the List is complete, so it comes last.
    after_relist = sink.summary()[4:]
    assert after_relist == [
        ("MODIFIED", "changes", "40"),
        ("ADDED", "arrives", "41"),
        ("RELISTED_GONE", "vanishes", "7"),
    ]
    gone = sink[6]
    assert gone.change is Change.RELISTED_GONE
    assert gone.obj is not None and gone.obj.metadata.uid == "uid-vanishes"
    assert fake_api.list_requests()[1].query["resourceVersion"] == "11"
    assert fake_api.watch_requests()[2].query["resourceVersion"] == "50"
    assert informer.stats.restarts["gone"] == 1
    assert informer.stats.duplicates == 1  # the replayed MODIFIED of "stays" at rv 5
    assert informer.known_objects == 4


async def test_http_410_on_watch_relists_the_same_way(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A watch refused with HTTP 410 relists and diffs exactly like an in-stream 410."""
    _, sink = await relist_after(
        Reply.error(410, "Expired", "too old"), fake_api, connection, fake_time
    )

    assert sink.summary()[4:] == [
        ("MODIFIED", "changes", "40"),
        ("ADDED", "arrives", "41"),
        ("RELISTED_GONE", "vanishes", "7"),
    ]
    assert fake_time.sleeps == []  # a 410 is not a failure to back off from


async def test_410_on_the_relist_falls_back_to_the_latest_state(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """If listing at our last rv is also 410, the informer lists without a resourceVersion."""
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5")], "10")))
    fake_api.watches.append(Reply.error(410, "Expired"))
    fake_api.lists.append(Reply.error(410, "Expired", "continue token expired"))
    fake_api.lists.append(Reply(body=pod_list([pod("a", "60")], "70")))
    sink = Collected()
    informer = Informer(
        connection=connection, resource="pods", sink=sink, options=options(fake_time)
    )

    await run_until(informer, lambda: len(fake_api.watch_requests()) == 2)

    assert [r.query.get("resourceVersion") for r in fake_api.list_requests()] == ["0", "10", None]
    assert sink.summary() == [("ADDED", "a", "5"), ("MODIFIED", "a", "60")]
    assert fake_api.watch_requests()[1].query["resourceVersion"] == "70"
