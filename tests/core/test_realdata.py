"""Reconstruction from object timestamps alone, on pods recorded on real clusters.

The recordings (../shared/realdata/pulumi, see its SOURCES.md) are successive
full versions of one object, with no receipt times. Each is fed as if seen an
hour late, so every time must come from the server's own timestamps.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from tracewatch.core.clock import SECOND_NS, parse_timestamp_ns
from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Pod
from tracewatch.core.spans import SpanRecord

from ..realdata import ABSENT, REALDATA

pytestmark = pytest.mark.skipif(
    not REALDATA.is_dir(), reason=ABSENT
)
HOUR = 3600 * SECOND_NS


def _replay_late(name: str, *, until_ns: int = 2 * HOUR) -> tuple[list[SpanRecord], int]:
    """Feed each version an hour after creation, then let time pass to creation + until_ns."""
    versions = json.loads((REALDATA / name).read_text())
    created = parse_timestamp_ns(versions[0]["metadata"]["creationTimestamp"])
    assert created is not None
    engine = Engine(options=EngineOptions(settle_delay_ns=0, backfill_ns=2 * HOUR))
    spans: list[SpanRecord] = []
    for i, version in enumerate(versions):
        pod = msgspec.json.decode(json.dumps(version).encode(), type=Pod)
        change = Change.ADDED if i == 0 else Change.MODIFIED
        spans += engine.observe(
            Observation(observed_at_ns=created + HOUR + i, change=change, resource="pods", obj=pod)
        )
    spans += engine.advance(created + until_ns)
    return spans, created


def _sec(span: SpanRecord, created: int) -> tuple[float, float]:
    return ((span.start_ns - created) / SECOND_NS, (span.end_ns - created) / SECOND_NS)


def test_create_success_from_server_timestamps() -> None:
    """nginx pod: created 04:55:12, container started :14, Ready :15 -- all from the server."""
    spans, created = _replay_late("pod/createSuccess.json")
    by = {s.name: s for s in spans}
    root = by["k8s.CreatePod"]
    assert root.attribute("tracewatch.outcome") == "completed"
    assert _sec(root, created) == (0, 3)
    assert _sec(by["kubelet.StartContainer"], created) == (0, 2)
    assert _sec(by["kubelet.WaitReady"], created) == (2, 3)
    assert root.attribute("k8s.node.name") == "docker-desktop"
    assert {s.attribute("tracewatch.time_source") for s in spans} == {"server"}


def test_run_to_completion_pod_ends_at_container_finish() -> None:
    """restartPolicy Never: Succeeded ends the lifecycle at the container's finishedAt."""
    spans, created = _replay_late("pod/containerTerminatedSuccessRestartNever.json")
    root = next(s for s in spans if s.is_root)
    assert root.attribute("tracewatch.outcome") == "completed"
    assert _sec(root, created) == (0, 2)


def test_container_that_cannot_run_fails_the_startup() -> None:
    """RunContainerError ends the startup as failed at the last attempt's finishedAt."""
    spans, created = _replay_late("pod/containerTerminatedError.json")
    root = next(s for s in spans if s.is_root)
    assert root.attribute("tracewatch.outcome") == "failed"
    assert root.attribute("tracewatch.reason") == "RunContainerError"
    assert _sec(root, created) == (0, 2)


def test_crash_loop_fails_the_startup() -> None:
    """A pod first seen in CrashLoopBackOff is a failed startup with that reason."""
    spans, _ = _replay_late("pod/crashLoopBackoff.json")
    root = next(s for s in spans if s.is_root)
    assert root.attribute("tracewatch.outcome") == "failed"
    assert root.attribute("tracewatch.reason") == "CrashLoopBackOff"


def test_unschedulable_pod_is_not_an_end() -> None:
    """PodScheduled=False/Unschedulable is not an end: nothing is emitted before the time limit."""
    early, _ = _replay_late("pod/unscheduled.json", until_ns=HOUR + 10 * 60 * SECOND_NS)
    assert early == []
    spans, _ = _replay_late("pod/unscheduled.json")
    assert [s.attribute("tracewatch.outcome") for s in spans if s.is_root] == ["timed_out"]


def test_recorded_crash_loop_restarts() -> None:
    """A container that keeps exiting (restartPolicy Always): the restart during startup is a
    span event on the failed startup; the back-off after it is a RestartContainer lifecycle."""
    spans, created = _replay_late("pod/containerTerminatedSuccess.json")
    root = next(s for s in spans if s.name == "k8s.CreatePod")
    assert root.attribute("tracewatch.outcome") == "failed"
    assert root.attribute("tracewatch.reason") == "CrashLoopBackOff"
    assert [e.name for e in root.events] == ["ContainerRestarted"]
    [restart] = [s for s in spans if s.name == "kubelet.RestartContainer"]
    assert restart.attribute("k8s.container.restart_count") == 2
    assert restart.attribute("tracewatch.reason") == "CrashLoopBackOff"
    assert _sec(restart, created)[0] == 3  # the exit at 20:55:54
    # Never seen running again in the recording: closed by the lifecycle time limit.
    assert restart.attribute("tracewatch.outcome") == "timed_out"
