"""Every lifecycle kind against the simulated cluster, compared with its ground truth.

Observed live, each span boundary must land within 50 ms of the instant the
simulator recorded for it.
"""

from __future__ import annotations

from pathlib import Path

from tracewatch.core.spans import SpanRecord

from .core.test_properties import check_invariants
from .scenario_harness import MS, close, run_traced


def _within(span: SpanRecord, start_ns: int, end_ns: int) -> None:
    assert close(span.start_ns, start_ns), (span.name, (span.start_ns - start_ns) / MS)
    assert close(span.end_ns, end_ns), (span.name, (span.end_ns - end_ns) / MS)


async def test_deployment_rollouts_match_ground_truth(tmp_path: Path) -> None:
    """Create then update: two rollout traces, each from the generation's write to rollout
    complete, with every ReplicaSet scale step and pod inside it."""
    traced = await run_traced(tmp_path, "deployment", replicas=3)
    check_invariants(traced.spans)
    [uid] = traced.result.uids("deployments")
    truth = traced.truth[uid]
    rollouts = sorted(traced.named("k8s.RolloutDeployment"), key=lambda s: s.start_ns)
    assert [r.attribute("k8s.object.generation") for r in rollouts] == [1, 2]
    for rollout in rollouts:
        g = rollout.attribute("k8s.object.generation")
        assert rollout.is_root and rollout.attribute("tracewatch.outcome") == "completed"
        # The top span may stretch over work that finished inside it (old pods going away).
        assert close(rollout.start_ns, truth[f"rollout_started:{g}"])
        assert rollout.end_ns >= truth[f"rollout_complete:{g}"] - 50 * MS
        steps = [s for s in traced.children(rollout) if s.name == "k8s.ScaleReplicaSet"]
        assert steps, f"rollout {g} has scale steps"
    first_pods = [s for s in traced.named("k8s.CreatePod") if s.trace_id == rollouts[0].trace_id]
    assert len(first_pods) == 3
    for pod in first_pods:
        times = traced.truth[str(pod.attribute("k8s.pod.uid"))]
        _within(pod, times["created"], times["ready"])
    second = [s for s in traced.spans if s.trace_id == rollouts[1].trace_id]
    assert {s.name for s in second} >= {"k8s.ScaleReplicaSet", "k8s.CreatePod", "k8s.DeletePod"}
    for delete in (s for s in second if s.name == "k8s.DeletePod"):
        times = traced.truth[str(delete.attribute("k8s.pod.uid"))]
        _within(delete, times["deletion_requested"], times["deleted"])


async def test_superseded_rollout(tmp_path: Path) -> None:
    """v2 still rolling when v3 lands: v2 ends superseded at v3's start; v3 links to it."""
    traced = await run_traced(tmp_path, "supersede")
    check_invariants(traced.spans)
    [uid] = traced.result.uids("deployments")
    truth = traced.truth[uid]
    by_gen = {
        s.attribute("k8s.object.generation"): s for s in traced.named("k8s.RolloutDeployment")
    }
    assert set(by_gen) == {1, 2, 3}
    v2, v3 = by_gen[2], by_gen[3]
    assert v2.attribute("tracewatch.outcome") == "superseded"
    assert close(v2.end_ns, truth["superseded:2"])
    assert close(v3.start_ns, truth["rollout_started:3"])
    assert v3.attribute("tracewatch.outcome") == "completed"
    assert [(link.trace_id, link.span_id) for link in v3.links] == [(v2.trace_id, v2.span_id)]


async def test_statefulset_with_claims(tmp_path: Path) -> None:
    """StatefulSet rollout holds its claims (bound per ground truth) and its ordered pods."""
    traced = await run_traced(tmp_path, "statefulset", replicas=2)
    check_invariants(traced.spans)
    [rollout] = traced.named("k8s.RolloutStatefulSet")
    assert rollout.attribute("tracewatch.outcome") == "completed"
    claims = traced.named("k8s.CreatePersistentVolumeClaim")
    assert len(claims) == 2
    for claim in claims:
        assert claim.trace_id == rollout.trace_id
        times = traced.truth[str(claim.attribute("k8s.persistentvolumeclaim.uid"))]
        _within(claim, times["created"], times["bound"])
    pods = traced.named("k8s.CreatePod")
    assert len(pods) == 2 and all(p.trace_id == rollout.trace_id for p in pods)
    for schedule in traced.named("scheduler.SchedulePod"):
        binds = {(s.trace_id, s.span_id) for s in traced.named("persistentvolume.BindClaim")}
        assert {(link.trace_id, link.span_id) for link in schedule.links} <= binds
        assert schedule.links, "scheduling links to the claim it waited for"


async def test_job_run(tmp_path: Path) -> None:
    """A Job from creation to Complete, its pods inside."""
    traced = await run_traced(tmp_path, "job")
    check_invariants(traced.spans)
    [uid] = traced.result.uids("jobs")
    [run] = traced.named("k8s.RunJob")
    assert run.attribute("tracewatch.outcome") == "completed"
    _within(run, traced.truth[uid]["created"], traced.truth[uid]["complete"])
    pods = traced.named("k8s.CreatePod")
    assert pods and all(p.trace_id == run.trace_id for p in pods)


async def test_image_pull_failure_fails_startup(tmp_path: Path) -> None:
    """ErrImagePull / ImagePullBackOff end the startup as failed with the reason."""
    traced = await run_traced(tmp_path, "image-pull-failure")
    [root] = traced.named("k8s.CreatePod")
    assert root.attribute("tracewatch.outcome") == "failed"
    assert root.attribute("tracewatch.reason") in ("ErrImagePull", "ImagePullBackOff")
    assert root.status.name == "ERROR"


async def test_crash_loop_is_visible(tmp_path: Path) -> None:
    """A container that exits with an error: each exit and back-off is a RestartContainer span
    from the exit the simulator recorded, with CrashLoopBackOff as its reason."""
    traced = await run_traced(tmp_path, "crashloop")
    [uid] = traced.result.uids("pods")
    truth = traced.truth[uid]
    restarts = traced.named("kubelet.RestartContainer")
    assert restarts, "the crash loop shows as restarts"
    first = min(restarts, key=lambda s: s.start_ns)
    assert close(first.start_ns, truth["container_exited:app"], 1_000 * MS)
    assert all(r.attribute("k8s.container.last_terminated.exit_code") == 1 for r in restarts)
    assert any(r.attribute("tracewatch.reason") == "CrashLoopBackOff" for r in restarts)


async def test_unschedulable_then_scheduled(tmp_path: Path) -> None:
    """FailedScheduling attempts are span events; scheduling ends when the pod is bound."""
    traced = await run_traced(tmp_path, "unschedulable")
    [schedule] = traced.named("scheduler.SchedulePod")
    [uid] = traced.result.uids("pods")
    assert close(schedule.end_ns, traced.truth[uid]["scheduled"])
    assert any(e.name == "FailedScheduling" for e in schedule.events)
