"""`tracewatch replay` against an exporter that fails: it finishes, says so, exits 1."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tracewatch.capture.lines import format_observed_at
from tracewatch.capture.replay import replay_capture
from tracewatch.cli import main
from tracewatch.config import Settings, load
from tracewatch.export.base import ExportResult
from tracewatch.export.memory import InMemoryExporter

from ..core.builders import T0, ts
from ..export.builders import ScriptedExporter

_SPANS_PER_POD = 4  # k8s.CreatePod, kubelet.StartPod, kubelet.StartContainer, kubelet.WaitReady
_FAILED = ExportResult.RETRYABLE_FAILURE


def _pod_lines(index: int) -> Iterator[bytes]:
    """A pod created `index` seconds in and Ready two seconds later: its spans leave while
    later pods are read, so a long capture fills many export batches as it goes."""
    start = T0 + index * 10**9
    meta = {"name": f"p{index}", "namespace": "d", "uid": f"u{index}",
            "resourceVersion": str(index), "creationTimestamp": ts(start)}
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": meta,
           "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
           "status": {"phase": "Pending"}}
    ready = {"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": ts(start)},
        {"type": "Ready", "status": "True", "lastTransitionTime": ts(start + 2 * 10**9)}],
        "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                               "state": {"running": {"startedAt": ts(start + 10**9)}}}]}
    for at, change, obj in ((start, "ADDED", pod),
                            (start + 2 * 10**9, "MODIFIED", {**pod, "status": ready})):
        yield orjson.dumps({"observedAt": format_observed_at(at + 10**8), "type": change,
                            "object": obj}) + b"\n"


def _capture(tmp_path: Path, pods: int) -> Path:
    path = tmp_path / "capture.jsonl"
    path.write_bytes(b"".join(line for i in range(pods) for line in _pod_lines(i)))
    return path


def _settings(**flags: str) -> Settings:
    return load(flags={"settle_delay": "300ms", **flags}, environ={})


async def test_a_backend_that_stays_down_is_waited_for_once_not_on_every_batch(
    tmp_path: Path,
) -> None:
    """Four batches' worth of spans, the exporter failing throughout: the replay waits out
    its patience once, says so once, goes on, and counts every span as not exported."""
    pods = 1100  # 4,400 spans: four batches of 1,024 fill up while the capture is read
    warnings: list[str] = []
    summary = await replay_capture(
        path=_capture(tmp_path, pods), settings=_settings(flush_timeout="200ms"),
        exporter=ScriptedExporter(then=_FAILED), warn=warnings.append,
    )
    assert summary.spans == 0
    assert summary.lost == pods * _SPANS_PER_POD
    assert len(warnings) == 1 and "the exporter has failed for 0.2s" in warnings[0]
    assert f"{pods * _SPANS_PER_POD} span(s) NOT exported" in summary.describe()


async def test_a_short_outage_is_waited_out_and_loses_nothing(tmp_path: Path) -> None:
    """The exporter fails twice, then works: the replay waits for it; every span arrives."""
    pods = 600
    exporter = ScriptedExporter(_FAILED, _FAILED)
    warnings: list[str] = []
    summary = await replay_capture(
        path=_capture(tmp_path, pods), settings=_settings(flush_timeout="10s"),
        exporter=exporter, warn=warnings.append,
    )
    assert warnings == []
    assert summary.lost == 0 and summary.spans == pods * _SPANS_PER_POD
    delivered = [span for batch in exporter.batches[2:] for span in batch]  # after 2 failures
    assert len(delivered) == pods * _SPANS_PER_POD
    reference = InMemoryExporter()
    await replay_capture(path=tmp_path / "capture.jsonl", settings=_settings(),
                         exporter=reference, warn=warnings.append)
    assert sorted(s.span_id for s in delivered) == sorted(s.span_id for s in reference.spans)


def test_replay_to_an_endpoint_nobody_listens_on_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real OTLP/gRPC exporter, a port with nothing behind it: exit 1 and a summary that
    says how many spans were not exported."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    capture = _capture(tmp_path, 5)
    code = main(["replay", str(capture), "--otlp-endpoint", f"127.0.0.1:{port}",
                 "--flush-timeout", "200ms", "--log-level", "error"])
    assert code == 1
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.startswith(f"# replayed {capture}:")
    assert f"{5 * _SPANS_PER_POD} span(s) NOT exported" in summary
