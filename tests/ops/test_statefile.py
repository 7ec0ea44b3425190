"""The state file survives restarts and faults, and keeps a restart from re-emitting."""

from __future__ import annotations

from pathlib import Path

from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.ops import statefile

from ..core.builders import MS, T0, PodStory


def _ready_pod_observations(uid: str) -> list[Observation]:
    story = PodStory(created_ns=T0, uid=uid, name=uid)
    steps = [
        story.snapshot(),
        story.schedule(T0 + 100 * MS),
        story.started("app", T0 + 300 * MS),
        story.condition("Ready", T0 + 500 * MS),
    ]
    return [
        Observation(
            observed_at_ns=T0 + (i + 1) * 100 * MS + 5 * MS,
            change=Change.ADDED if i == 0 else Change.MODIFIED,
            resource="pods",
            obj=s,
        )
        for i, s in enumerate(steps)
    ]


def _run(engine: Engine, observations: list[Observation]) -> int:
    spans = []
    for o in observations:
        spans += engine.observe(o)
    spans += engine.advance(T0 + 60_000 * MS)
    return sum(1 for s in spans if s.is_root)


def test_restart_with_state_file_never_re_emits(tmp_path: Path) -> None:
    """A lifecycle emitted before a restart is not emitted again after it (same relist)."""
    path = tmp_path / "state.json"
    first = Engine(options=EngineOptions(settle_delay_ns=0))
    assert _run(first, _ready_pod_observations("a")) == 1
    statefile.save(path, first.emitted_lifecycles())

    restarted = Engine(options=EngineOptions(settle_delay_ns=0), emitted=statefile.load(path))
    # After a restart the informer lists again: the same pod, already Ready.
    relisted = _ready_pod_observations("a")[-1:]
    relisted = [
        Observation(
            observed_at_ns=T0 + 30_000 * MS,
            change=Change.ADDED,
            resource="pods",
            obj=relisted[0].obj,
        )
    ]
    assert _run(restarted, relisted) == 0
    without_state = Engine(options=EngineOptions(settle_delay_ns=0))
    assert _run(without_state, relisted) == 1  # the check above is real


def test_missing_file_is_a_first_start(tmp_path: Path) -> None:
    """No file yet: nothing emitted before."""
    assert statefile.load(tmp_path / "absent.json") == set()


def test_corrupt_file_is_moved_aside(tmp_path: Path) -> None:
    """A torn or foreign file does not stop tracewatch; it is kept aside for inspection."""
    path = tmp_path / "state.json"
    path.write_bytes(b'{"version": 1, "emitted": [["a", "cre')
    assert statefile.load(path) == set()
    assert not path.exists()
    assert (tmp_path / "state.json.corrupt").exists()


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    """What is saved loads back identically and leaves no temporary files behind."""
    path = tmp_path / "state.json"
    pairs = {("u1", "create"), ("u2", "gen-3"), ("u1", "delete")}
    statefile.save(path, pairs)
    statefile.save(path, pairs | {("u3", "run")})
    assert statefile.load(path) == pairs | {("u3", "run")}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
