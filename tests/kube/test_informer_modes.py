"""Informer behaviours beyond list/watch: record mode, filters, floods of bad lines, failing sinks,
resources the server does not serve, and fresh credentials after a 401."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from structlog.testing import capture_logs

from tracewatch.core.observations import Change, Observation
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
    write_kubeconfig,
)


async def test_record_mode_hands_over_each_object_as_received(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """raw_sink gets list items and watch objects byte for byte, and for a relisted-gone
    object the last bytes seen."""
    a = pod("a", "5") | {"extra": {"kept": True}}
    fake_api.lists.append(Reply(body=pod_list([a, pod("b", "6")], "10")))
    fake_api.watches.append(Watch([line("MODIFIED", pod("b", "11"))]))
    fake_api.watches.append(Reply(body=json.dumps(status(410, "Expired", "too old")).encode(),
                                  status=410))
    fake_api.lists.append(Reply(body=pod_list([pod("b", "11")], "20")))
    raws: list[tuple[Observation, bytes]] = []
    informer = Informer(connection=connection, resource="pods", sink=Collected(),
                        options=options(fake_time), raw_sink=lambda o, r: raws.append((o, r)))

    await run_until(informer, lambda: len(raws) == 4)

    changes = [(o.change, o.obj.metadata.name) for o, _ in raws]
    assert changes == [(Change.ADDED, "a"), (Change.ADDED, "b"), (Change.MODIFIED, "b"),
                       (Change.RELISTED_GONE, "a")]
    assert json.loads(raws[0][1])["extra"] == {"kept": True}
    assert json.loads(raws[2][1]) == pod("b", "11")
    assert json.loads(raws[3][1]) == a  # the last object seen of the vanished pod


async def test_object_filter_drops_other_shards_before_remembering(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Filtered objects are neither delivered nor kept, but still move the cursor."""
    other = pod("x", "7") | {"metadata": pod("x", "7")["metadata"] | {"namespace": "other"}}
    fake_api.lists.append(Reply(body=pod_list([pod("a", "5"), other], "10")))
    fake_api.watches.append(Watch([line("MODIFIED", other | {"metadata": other["metadata"]
                                                             | {"resourceVersion": "12"}})]))
    sink = Collected()
    informer = Informer(connection=connection, resource="pods", sink=sink,
                        options=options(fake_time),
                        object_filter=lambda o: o.metadata.namespace == "default")

    await run_until(informer, lambda: informer.resource_version == "12")

    assert sink.summary() == [("ADDED", "a", "5")]
    assert informer.known_objects == 1 and informer.stats.filtered == 2


async def test_flood_of_malformed_lines_is_counted_but_logged_rarely(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """Hundreds of bad lines: all counted and skipped, one log record in the interval, the
    good line after them delivered."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    garbage = [b"{broken"] * 200 + [line("ADDED", {"kind": "Pod", "metadata": {"name": "n"}})]
    fake_api.watches.append(Watch([*garbage, line("ADDED", pod("a", "11"))], then="hold"))
    sink = Collected()
    informer = Informer(connection=connection, resource="pods", sink=sink,
                        options=options(fake_time, monotonic=lambda: 100.0))
    with capture_logs() as logs:
        await run_until(informer, lambda: len(sink) == 1)
    malformed = [e for e in logs if e["event"] == "kube.malformed_line"]
    assert informer.stats.decode_errors == 201
    assert len(malformed) == 1 and malformed[0]["resource"] == "pods"
    assert "resource_version" in malformed[0]
    assert sink.summary() == [("ADDED", "a", "11")]


async def test_failing_sink_costs_one_observation_not_the_watch(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A sink that raises is logged and counted; later observations still arrive, no re-watch."""
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    fake_api.watches.append(Watch([line("ADDED", pod("a", "11")), line("ADDED", pod("b", "12"))],
                                  then="hold"))
    seen: list[str] = []

    def sink(observation: Observation) -> None:
        if observation.obj.metadata.name == "a":
            raise RuntimeError("bug downstream")
        seen.append(observation.obj.metadata.name)

    informer = Informer(connection=connection, resource="pods", sink=sink,
                        options=options(fake_time))
    with capture_logs():
        await run_until(informer, lambda: seen == ["b"])
    assert informer.stats.sink_errors == 1
    assert len(fake_api.watch_requests()) == 1


async def test_resource_not_served_does_not_hold_readiness(
    fake_api: FakeApi, connection: ApiConnection, fake_time: FakeTime
) -> None:
    """A 404 on list (the API group is not served) logs once, counts as synced, keeps asking."""
    fake_api.lists.extend([Reply.error(404, "NotFound", "the server could not find it")] * 3)
    informer = Informer(connection=connection, resource="pods", sink=Collected(),
                        options=options(fake_time))
    with capture_logs() as logs:
        await run_until(informer, lambda: informer.stats.restarts["not_found"] == 3)
    assert informer.has_synced and informer.not_served
    assert [e["event"] for e in logs].count("kube.resource_not_served") == 1


EXEC_PLUGIN = """
import json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": f"exec-token-{n}"}}))
"""


async def test_exec_plugin_is_rerun_after_a_401(
    fake_api: FakeApi, tmp_path: Path, fake_time: FakeTime
) -> None:
    """A plugin token without expiry is reused until the server answers 401; then the plugin
    runs again and the retry carries the new token."""
    script = tmp_path / "plugin.py"
    script.write_text(EXEC_PLUGIN)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": sys.executable,
                     "args": [str(script), str(tmp_path / "count")]}}
    kubeconfig = write_kubeconfig(tmp_path / "config", server=fake_api.url, user=user)
    fake_api.lists.append(Reply.error(401, "Unauthorized", "token revoked"))
    fake_api.lists.append(Reply(body=pod_list([], "10")))
    async with await ApiConnection.from_kubeconfig(config_file=kubeconfig, context="test") as conn:
        informer = Informer(connection=conn, resource="pods", sink=Collected(),
                            options=options(fake_time))
        with capture_logs():
            await run_until(informer, lambda: informer.has_synced)
    tokens = [r.headers.get("Authorization") for r in fake_api.requests[:2]]
    assert tokens == ["Bearer exec-token-1", "Bearer exec-token-2"]
