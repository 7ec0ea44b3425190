"""Malformed objects: whatever a field holds, the engine counts or ignores it and keeps going.

The API server validates what it stores, but a capture can be edited, a proxy can
mangle, and fields the server leaves free (annotations, Event times written by any
client) hold anything. Each example damages a few fields of a realistic stream (a pod
startup with its Events, a rollout with its ReplicaSet and pods, a graceful deletion, a
claim bound for a pod, a StatefulSet with its claim; and, where present, the objects
recorded on real clusters): a timestamp made garbage or absurd, a number changed, a key
dropped. The engine must not raise, and what it emits must keep the span invariants.
(Objects' own uids are left alone; see `damaged_streams`.)
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tracewatch.core.clock import SECOND_NS, parse_timestamp_ns
from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Deployment, Job, Pod
from tracewatch.core.spans import SpanRecord

from ..realdata import ABSENT, REALDATA
from .builders import MS, T0, kubelet_event, meta, obs, ts, workload_obs
from .test_jobs_and_claims import claim_stream, statefulset_stream
from .test_properties import _streams, check_invariants
from .test_workloads import deletion_stream, rollout_stream

_GARBAGE_TIMES = (
    "",
    "yesterday",
    "2024-02-30T25:61:61Z",
    "0000-00-00T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2023-11-14T22:13:20.5Z",
    "2023-11-14T22:13:20+99:00",
    "2023-11-14T22:13:20.1234567890123Z",
)


def _stream() -> list[Observation]:
    pods, events = _streams()
    deps, rss, rollout_pods = rollout_stream()
    merged = [*pods, *events, *deps, *rss, *rollout_pods, *deletion_stream(), *claim_stream(),
              *statefulset_stream()]
    return sorted(merged, key=lambda o: o.observed_at_ns)


STREAM = _stream()


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths to every scalar in a decoded object (dict keys and list indexes)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


_DROP = object()  # a damage that removes the key instead of replacing its value


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> None:
    *outer, last = path
    for step in outer:
        value = value[step]
    if new is _DROP and isinstance(value, dict):
        del value[last]
    elif new is not _DROP:
        value[last] = new



def _real_stream() -> list[Observation]:
    """Every recorded object's successive versions (pods: restarts, crash loops, terminations;
    Jobs), each version received a second after the one before."""
    out: list[Observation] = []
    for path in sorted(REALDATA.glob("*/*.json")):
        kind = {"pod": (Pod, "pods"), "job": (Job, "jobs")}[path.parent.name]
        for i, version in enumerate(json.loads(path.read_text())):
            obj = msgspec.convert(version, kind[0], strict=False)
            change = Change.ADDED if i == 0 else Change.MODIFIED
            created = parse_timestamp_ns(obj.metadata.creation_timestamp) or T0
            out.append(Observation(created + (i + 1) * SECOND_NS, change, kind[1], obj))
    return sorted(out, key=lambda o: o.observed_at_ns)


REAL_STREAM = _real_stream() if REALDATA.is_dir() else []


@st.composite
def damaged_streams(draw: st.DrawFn, stream: list[Observation] = STREAM) -> list[Observation]:
    """`stream` with one to four observations damaged in one field each."""
    out = list(stream)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(out) - 1))
        original = out[i]
        obj = msgspec.to_builtins(original.obj)
        # Not the object's own uid: the API server guarantees it unique, and the informers
        # and the capture parser refuse an object without one. References to other
        # objects (owners, an Event's involvedObject) are damaged like any field.
        leaves = [p for p in _leaves(obj) if p != ("metadata", "uid")]
        assume(leaves)
        path = draw(st.sampled_from(leaves))
        current = obj
        for step in path:
            current = current[step]
        if isinstance(current, bool):
            new: Any = draw(st.sampled_from([not current, _DROP]))
        elif isinstance(current, int):
            new = draw(st.sampled_from([-1, 0, 1, 2, 10**12, _DROP]))
        else:
            new = draw(st.one_of(st.sampled_from((*_GARBAGE_TIMES, _DROP)), st.text(max_size=4)))
        _replace(obj, path, new)
        try:
            damaged = msgspec.convert(obj, type(original.obj))
        except msgspec.ValidationError:
            continue  # no decoder would have produced it
        out[i] = Observation(original.observed_at_ns, original.change, original.resource, damaged)
    return out


def _run(observations: list[Observation]) -> tuple[list[SpanRecord], Engine]:
    engine = Engine(options=EngineOptions(settle_delay_ns=500 * MS))
    spans: list[SpanRecord] = []
    for o in observations:
        spans += engine.observe(o)
    spans += engine.advance(T0 + 3_600_000 * MS)
    return spans + engine.drain(), engine


def test_the_undamaged_stream_traces_every_lifecycle() -> None:
    """The baseline the damage is applied to: every lifecycle in it is traced."""
    spans, engine = _run(STREAM)
    names = {s.name for s in spans}
    assert {"k8s.CreatePod", "k8s.RolloutDeployment", "k8s.DeletePod", "persistentvolume.BindClaim",
            "k8s.RolloutStatefulSet"} <= names
    assert not engine.counters["observations.invalid"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_streams())
def test_damaged_fields_never_stop_the_engine(observations: list[Observation]) -> None:
    """No exception, whatever the damage; the spans still keep their invariants."""
    spans, _ = _run(observations)
    check_invariants(spans)


def _owned_deployment(uid: str, owner_uid: str, *, ready_ns: int) -> list[Observation]:
    """A Deployment whose ownerReference names `owner_uid`, created and rolled out."""
    started = msgspec.convert(
        {"metadata": meta("web", uid, created_ns=T0, owner=("ReplicaSet", "x", owner_uid)),
         "spec": {"replicas": 1}, "status": {}},
        Deployment,
    )
    done = msgspec.structs.replace(
        started,
        status=msgspec.convert(
            {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1,
             "availableReplicas": 1,
             "conditions": [{"type": "Progressing", "status": "True",
                             "reason": "NewReplicaSetAvailable",
                             "lastTransitionTime": ts(ready_ns)}]},
            type(started.status),
        ),
    )
    return [workload_obs(T0 + 5 * MS, started, Change.ADDED), workload_obs(ready_ns, done)]


def test_an_object_that_owns_itself_is_a_root() -> None:
    """An ownerReference naming the object itself (the API server does not forbid it) does
    not nest the object in itself: its rollout is a root, nothing recurses."""
    spans, _ = _run(_owned_deployment("loop", "loop", ready_ns=T0 + 2_000 * MS))
    [rollout] = [s for s in spans if s.name == "k8s.RolloutDeployment"]
    assert rollout.is_root
    check_invariants(spans)


def test_owner_references_in_a_cycle_are_placed_once_each() -> None:
    """A owned by B and B owned by A: each is placed once (one inside the other or both
    roots), no recursion; both rollouts are emitted."""
    stream = sorted(
        [*_owned_deployment("a", "b", ready_ns=T0 + 2_000 * MS),
         *_owned_deployment("b", "a", ready_ns=T0 + 2_000 * MS)],
        key=lambda o: o.observed_at_ns,
    )
    spans, _ = _run(stream)
    rollouts = [s for s in spans if s.name == "k8s.RolloutDeployment"]
    assert len(rollouts) == 2
    assert sum(s.is_root for s in rollouts) >= 1
    check_invariants(spans)


@pytest.mark.parametrize("received_ms", [1, 1_000], ids=["before-the-object", "while-open"])
def test_an_event_naming_another_kinds_uid_is_not_folded_into_it(received_ms: int) -> None:
    """Any client writes Events: one that says kind Pod with a Deployment's uid neither
    reaches the Deployment's lifecycle nor stops the engine, whether it arrives while the
    rollout is open or before the Deployment (held until its lifecycle opens)."""
    stream = _owned_deployment("dep", "", ready_ns=T0 + 2_000 * MS)
    stray = kubelet_event(uid="dep", reason="BackOff", message="not a pod", at_ns=T0)
    spans, _ = _run(sorted([*stream, obs(T0 + received_ms * MS, stray)],
                           key=lambda o: o.observed_at_ns))
    [rollout] = [s for s in spans if s.name == "k8s.RolloutDeployment"]
    assert rollout.events == ()


@pytest.mark.skipif(not REALDATA.is_dir(), reason=ABSENT)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_streams(REAL_STREAM))
def test_damaged_real_objects_never_stop_the_engine(observations: list[Observation]) -> None:
    """The same damage on objects recorded on real clusters (restarts, crash loops, Jobs)."""
    spans, _ = _run(observations)
    check_invariants(spans)
