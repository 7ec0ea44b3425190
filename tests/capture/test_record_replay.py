"""Record a live run against the simulated cluster, replay it, and get the same traces.

The live side is the real informers over HTTP feeding an engine, with the
recorder on the same informers (record mode), so both see the same receipt
times. Replay goes through `replay_capture` and the daemon's exporters.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tracewatch.capture.recording import CaptureWriter
from tracewatch.capture.replay import replay_capture
from tracewatch.cli import main
from tracewatch.config import Settings, load
from tracewatch.core.observations import Observation
from tracewatch.core.spans import SpanRecord
from tracewatch.daemon import engine_for, exporter_from_settings
from tracewatch.export.memory import InMemoryExporter
from tracewatch.sim import SimCluster
from tracewatch.sim.faults import WriteLog

from ..watch_harness import churn, sim_options, wait_synced, watching

RESOURCES = ("pods", "events", "nodes")


def _settings(**flags: str) -> Settings:
    return load(flags={"settle_delay": "300ms", **flags}, environ={})


def _key(span: SpanRecord) -> tuple[bytes, bytes]:
    return (span.trace_id, span.span_id)


async def _record_live(sim: SimCluster, tmp_path: Path, capture: Path) -> list[SpanRecord]:
    """Run the live engine and the recorder on the same informers; return the live spans."""
    engine = engine_for(_settings())
    live: list[SpanRecord] = []

    def fold(observation: Observation) -> None:
        live.extend(engine.observe(observation))

    with capture.open("wb") as out:
        writer = CaptureWriter(stream=out)
        async with watching(sim, tmp_path, resources=RESOURCES, raw_sink=writer.write) as state:
            for informer in state.informers:
                informer._sink = fold  # the engine is the live sink here
            await wait_synced(state)
            # A compaction mid-run: the relist's changes are recorded too.
            await churn(
                sim, rounds=3, inject=lambda: (sim.faults.compact(), sim.faults.drop_watches())
            )
            await asyncio.sleep(0.6)
            live.extend(engine.advance(time.time_ns()))
        live.extend(engine.drain())
    return live


async def test_replay_rebuilds_the_live_traces(tmp_path: Path) -> None:
    """Replaying a capture recorded live gives the same spans (names, ids, parentage, times,
    attributes) as the live run produced."""
    capture = tmp_path / "capture.jsonl"
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        WriteLog(store=sim.store, resources=RESOURCES)
        live = await _record_live(sim, tmp_path, capture)
    collected = InMemoryExporter()
    warnings: list[str] = []
    summary = await replay_capture(
        path=capture, settings=_settings(), exporter=collected, warn=warnings.append
    )
    assert warnings == [] and summary.bad_lines == 0
    roots = [s for s in live if s.is_root and s.name == "k8s.CreatePod"]
    assert len(roots) >= 6, "the live run should have traced the scenario's pod startups"
    assert sorted(collected.spans, key=_key) == sorted(live, key=_key)
    assert summary.traces == sum(1 for s in live if s.is_root)


async def test_replaying_twice_writes_identical_jsonl(tmp_path: Path) -> None:
    """Two replays of one capture through the jsonl exporter write byte-identical files."""
    capture = tmp_path / "capture.jsonl"
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        await _record_live(sim, tmp_path, capture)
    outputs = []
    for n in (1, 2):
        output = tmp_path / f"spans-{n}.jsonl"
        settings = _settings(exporter="jsonl", output=str(output))
        exporter = exporter_from_settings(settings, environ={})
        await replay_capture(
            path=capture, settings=settings, exporter=exporter, warn=lambda _: None
        )
        await exporter.shutdown()
        outputs.append(output.read_bytes())
    assert outputs[0] and outputs[0] == outputs[1]


def test_replay_cli_skips_bad_lines_and_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad line gets one message with its line number and is counted in the summary."""
    good = (
        b'{"observedAt":"2024-05-01T10:00:00.000000001Z","type":"ADDED","object":'
        b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"d",'
        b'"uid":"u1","resourceVersion":"5","creationTimestamp":"2024-05-01T10:00:00Z"}}}\n'
    )
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(good + b"garbage\n" + good.replace(b'"u1"', b'"u2"'))
    code = main(["replay", str(capture), "--exporter", "console", "--log-level", "error"])
    err = capsys.readouterr().err
    assert code == 0
    assert f"{capture}:2: skipped" in err
    assert "3 line(s), 2 observation(s)" in err and "1 bad line(s) skipped" in err


def test_replay_cli_unreadable_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture that cannot be read gives one clear error line and exit code 2."""
    code = main(["replay", str(tmp_path / "missing.jsonl"), "--exporter", "console"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "cannot read" in err[0] and "missing.jsonl" in err[0]


async def test_record_command_writes_a_replayable_capture(tmp_path: Path) -> None:
    """`tracewatch record` against the simulator writes lines that replay without errors."""
    from tracewatch.capture.recording import run_record

    capture = tmp_path / "capture.jsonl"
    async with SimCluster(sim_options(preloaded_images=("busybox:1.36",))) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        settings = load(
            flags={"kubeconfig": str(kubeconfig), "resources": "pods,events,nodes"}, environ={}
        )
        recording = asyncio.create_task(
            run_record(settings=settings, output=str(capture), duration=1.5)
        )
        await asyncio.sleep(0.4)
        await churn(sim, rounds=2)
        assert await recording == 0
    collected = InMemoryExporter()
    summary = await replay_capture(
        path=capture, settings=_settings(), exporter=collected, warn=lambda m: pytest.fail(m)
    )
    assert summary.observations == summary.lines > 10
    assert any(s.name == "k8s.CreatePod" for s in collected.spans)


async def test_recorded_mixed_scenario_replays_to_the_full_tree(tmp_path: Path) -> None:
    """`tracewatch record` during a Deployment rollout and a Job, replayed: every rollout
    holds its ReplicaSet scale steps, each step its pods, each pod its kubelet phases; the
    Job holds its pods."""
    from tracewatch.capture.recording import run_record
    from tracewatch.sim.scenarios import run_scenario

    capture = tmp_path / "capture.jsonl"
    async with SimCluster(sim_options()) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        settings = load(flags={"kubeconfig": str(kubeconfig)}, environ={})
        recording = asyncio.create_task(
            run_record(settings=settings, output=str(capture), duration=None)
        )
        await asyncio.sleep(0.5)
        await run_scenario(sim, "deployment", replicas=2)
        await run_scenario(sim, "job", completions=2, parallelism=2, run_seconds=0.3)
        await asyncio.sleep(0.5)
        recording.cancel()
        assert await asyncio.gather(recording, return_exceptions=True)
    collected = InMemoryExporter()
    summary = await replay_capture(
        path=capture, settings=_settings(), exporter=collected, warn=lambda m: pytest.fail(m)
    )
    spans = collected.spans
    by_id = {s.span_id: s for s in spans}

    def children(parent: SpanRecord, name: str) -> list[SpanRecord]:
        return [s for s in spans if s.parent_span_id == parent.span_id and s.name == name]

    rollouts = sorted(
        (s for s in spans if s.name == "k8s.RolloutDeployment"), key=lambda s: s.start_ns
    )
    assert [r.attribute("k8s.object.generation") for r in rollouts] == [1, 2]
    for rollout in rollouts:
        assert rollout.is_root and rollout.attribute("tracewatch.outcome") == "completed"
        steps = children(rollout, "k8s.ScaleReplicaSet")
        assert steps
        created = [p for step in steps for p in children(step, "k8s.CreatePod")]
        assert len(created) == 2, "each rollout starts two pods inside its scale steps"
        for pod in created:
            start = children(pod, "kubelet.StartPod")
            assert len(start) == 1 and children(pod, "scheduler.SchedulePod")
            phases = {s.name for s in spans if s.parent_span_id == start[0].span_id}
            assert {
                "kubelet.CreateSandbox",
                "kubelet.StartContainer",
                "kubelet.WaitReady",
            } <= phases
    [job] = [s for s in spans if s.name == "k8s.RunJob"]
    assert job.attribute("tracewatch.outcome") == "completed"
    assert len(children(job, "k8s.CreatePod")) == 2
    for span in spans:
        parent = by_id.get(span.parent_span_id)
        if parent is not None:
            assert parent.start_ns <= span.start_ns <= span.end_ns <= parent.end_ns
    assert summary.bad_lines == 0


async def test_a_fault_in_the_engine_skips_its_line_not_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that raises on one observation costs that line (named, counted), not the
    rest of the capture."""
    from tracewatch.capture import replay

    line = (
        b'{"observedAt":"2024-05-01T10:00:00.000000001Z","type":"ADDED","object":'
        b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"d",'
        b'"uid":"u1","resourceVersion":"5","creationTimestamp":"2024-05-01T10:00:00Z"}}}\n'
    )
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(line + line.replace(b'"u1"', b'"u2"'))
    seen: list[str] = []

    def faulty_engine(settings: Settings) -> object:
        engine = engine_for(settings)
        observe = engine.observe

        def flaky(observation: Observation) -> list[SpanRecord]:
            seen.append(observation.obj.metadata.uid)
            if observation.obj.metadata.uid == "u1":
                raise KeyError("fault for the test")
            return observe(observation)

        engine.observe = flaky  # type: ignore[method-assign]
        return engine

    monkeypatch.setattr(replay, "engine_for", faulty_engine)
    warnings: list[str] = []
    summary = await replay_capture(path=capture, settings=_settings(), exporter=InMemoryExporter(),
                                   warn=warnings.append)
    assert seen == ["u1", "u2"]
    assert summary.failed == 1 and summary.observations == 2
    assert len(warnings) == 1 and f"{capture}:1: skipped" in warnings[0]
    assert "KeyError" in warnings[0] and "fault for the test" in warnings[0]
    assert "1 line(s) the engine failed on skipped" in summary.describe()
