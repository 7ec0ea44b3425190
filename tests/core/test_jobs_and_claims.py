"""Jobs (from real recordings), PVC binding, StatefulSet claims and scheduling links."""

from __future__ import annotations

import json

import msgspec
import pytest

from tracewatch.core.clock import SECOND_NS, parse_timestamp_ns
from tracewatch.core.engine import Engine, EngineOptions
from tracewatch.core.observations import Change, Observation
from tracewatch.core.snapshots import Event, Job, PersistentVolumeClaim, StatefulSet
from tracewatch.core.spans import SpanRecord

from ..realdata import ABSENT, REALDATA
from .builders import MS, T0, PodStory, meta, obs, snapshot, workload_obs
from .test_properties import check_invariants

HOUR = 3600 * SECOND_NS


def _run(observations: list[Observation], *, until_ns: int) -> list[SpanRecord]:
    engine = Engine(options=EngineOptions(settle_delay_ns=500 * MS, backfill_ns=2 * HOUR))
    out: list[SpanRecord] = []
    for o in sorted(observations, key=lambda o: o.observed_at_ns):
        out += engine.observe(o)
    out += engine.advance(until_ns)
    check_invariants(out)
    return out


@pytest.mark.skipif(not REALDATA.is_dir(), reason=ABSENT)
@pytest.mark.parametrize(
    ("name", "outcome", "reason", "seconds"),
    [
        ("job/succeeded.json", "completed", None, 13),
        ("job/backoffLimitExceeded.json", "failed", "BackoffLimitExceeded", None),
        ("job/deadlineExceeded.json", "failed", "DeadlineExceeded", None),
        ("job/backoffLimitResolved.json", "completed", None, None),
    ],
)
def test_recorded_jobs(name: str, outcome: str, reason: str | None, seconds: int | None) -> None:
    """Real Job recordings, seen an hour late: RunJob ends at the Complete/Failed condition."""
    versions = json.loads((REALDATA / name).read_text())
    created = parse_timestamp_ns(versions[0]["metadata"]["creationTimestamp"])
    assert created is not None
    stream = [
        Observation(
            observed_at_ns=created + HOUR + i,
            change=Change.ADDED if i == 0 else Change.MODIFIED,
            resource="jobs",
            obj=msgspec.json.decode(json.dumps(v).encode(), type=Job),
        )
        for i, v in enumerate(versions)
    ]
    [root] = _run(stream, until_ns=created + 2 * HOUR)
    assert root.name == "k8s.RunJob"
    assert root.attribute("tracewatch.outcome") == outcome
    assert root.attribute("tracewatch.reason") == reason
    assert root.attribute("k8s.job.name") == versions[0]["metadata"]["name"]
    if seconds is not None:
        assert (root.end_ns - root.start_ns) // SECOND_NS == seconds


def _claim(
    name: str, uid: str, *, phase: str = "Pending", bound_ns: int | None = None
) -> PersistentVolumeClaim:
    return snapshot(
        PersistentVolumeClaim,
        {
            "metadata": meta(name, uid, created_ns=T0, status_written_ns=bound_ns),
            "spec": {
                "storageClassName": "standard",
                "volumeName": "pv-1" if phase == "Bound" else "",
            },
            "status": {"phase": phase},
        },
    )


def _claim_event(uid: str, reason: str, at_ns: int) -> Event:
    return snapshot(
        Event,
        {
            "metadata": {"name": f"data.{at_ns:x}", "namespace": "default"},
            "involvedObject": {"kind": "PersistentVolumeClaim", "uid": uid, "name": "data"},
            "reason": reason,
            "message": reason,
            "count": 1,
            "firstTimestamp": _ts(at_ns),
            "lastTimestamp": _ts(at_ns),
        },
    )


def _ts(ns: int) -> str:
    from .builders import ts

    return ts(ns)


def claim_stream() -> list[Observation]:
    """A claim provisioned and bound in 3.4 s, and a pod using it (created unbound)."""
    bound_ns = T0 + 3_400 * MS
    pod = PodStory(created_ns=T0 + 50 * MS, uid="db-0", name="db-0")
    pod.obj["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    return [
        workload_obs(T0 + 5 * MS, _claim("data", "pvc-1"), Change.ADDED),
        obs(T0 + 300 * MS, _claim_event("pvc-1", "Provisioning", T0 + 290 * MS)),
        workload_obs(bound_ns + 4 * MS, _claim("data", "pvc-1", phase="Bound", bound_ns=bound_ns)),
        obs(T0 + 55 * MS, pod.snapshot(), Change.ADDED),
        obs(T0 + 3_600 * MS, pod.schedule(T0 + 3_600 * MS)),
        obs(T0 + 4_000 * MS, pod.started("app", T0 + 4_000 * MS)),
        obs(T0 + 4_200 * MS, pod.condition("Ready", T0 + 4_200 * MS)),
    ]


def test_claim_binding_with_provisioning_and_pod_link() -> None:
    """CreatePersistentVolumeClaim -> BindClaim from provisioning start to Bound; the pod's
    scheduling span links to that BindClaim span."""
    spans = _run(claim_stream(), until_ns=T0 + HOUR)
    by = {s.name: s for s in spans}
    claim, bind = by["k8s.CreatePersistentVolumeClaim"], by["persistentvolume.BindClaim"]
    assert bind.parent_span_id == claim.span_id
    assert ((bind.start_ns - T0) // MS, (bind.end_ns - T0) // MS) == (290, 3_404)
    assert [e.name for e in bind.events] == ["Provisioning"]
    assert claim.attribute("k8s.persistentvolume.name") == "pv-1"
    schedule = by["scheduler.SchedulePod"]
    assert [(link.trace_id, link.span_id) for link in schedule.links] == [
        (bind.trace_id, bind.span_id)
    ]


def statefulset_stream() -> list[Observation]:
    """A one-replica StatefulSet whose volumeClaimTemplate's claim binds before it is ready."""
    sts = {
        "metadata": meta("web", "sts-1", created_ns=T0),
        "spec": {"replicas": 1, "volumeClaimTemplates": [{"metadata": {"name": "data"}}]},
    }
    ready = {
        **sts,
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "readyReplicas": 1,
            "updatedReplicas": 1,
            "currentRevision": "r1",
            "updateRevision": "r1",
        },
    }
    stream = [
        workload_obs(T0 + 5 * MS, snapshot(StatefulSet, sts), Change.ADDED),
        workload_obs(T0 + 105 * MS, _claim("data-web-0", "pvc-w0"), Change.ADDED),
        workload_obs(
            T0 + 1_005 * MS, _claim("data-web-0", "pvc-w0", phase="Bound", bound_ns=T0 + 1_000 * MS)
        ),
        workload_obs(T0 + 5_000 * MS, snapshot(StatefulSet, ready)),
    ]
    return stream


def test_statefulset_claims_nest_in_its_rollout() -> None:
    """Claims from volumeClaimTemplates (<template>-<set>-<ordinal>) sit in the set's rollout."""
    spans = _run(statefulset_stream(), until_ns=T0 + HOUR)
    by = {s.name: s for s in spans}
    rollout = by["k8s.RolloutStatefulSet"]
    assert rollout.attribute("tracewatch.outcome") == "completed"
    assert by["k8s.CreatePersistentVolumeClaim"].parent_span_id == rollout.span_id
    assert by["persistentvolume.BindClaim"].trace_id == rollout.trace_id
