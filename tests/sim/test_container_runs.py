"""Kubelet container runs: init containers, exits, CrashLoopBackOff, failing pulls."""

from __future__ import annotations

from typing import Any

from tests.sim.conftest import MakeSim
from tests.sim.control import CONTROL, events_of
from tracewatch.sim import pod_manifest
from tracewatch.sim.behaviour import behaviour_of
from tracewatch.sim.workload_manifests import container


def _status(sim: Any, name: str, key: str = "containerStatuses") -> dict[str, Any]:
    return sim.get("pods", name)["status"][key][0]


def test_behaviour_reads_sim_env_and_probe_delay() -> None:
    """SIM_* env vars set run time, exit code, pull error; a readinessProbe delay is the default."""
    spec = container(run_seconds=2, exit_code=3, pull_error="not found")
    b = behaviour_of(spec)
    assert (b.run_seconds, b.exit_code, b.pull_error) == (2.0, 3, "not found")
    assert (
        behaviour_of({"name": "x", "env": [{"name": "SIM_EXIT_CODE", "value": "1"}]}).run_seconds
        == 0
    )
    probe = {"name": "x", "readinessProbe": {"initialDelaySeconds": 4}}
    assert behaviour_of(probe).ready_delay_seconds == 4
    assert not behaviour_of({"name": "x"}).exits


async def test_init_containers_run_in_order_before_app_containers(make_sim: MakeSim) -> None:
    """Init containers complete one by one (terminated Completed) before Initialized=True."""
    sim = await make_sim(**CONTROL)
    manifest = pod_manifest("init")
    manifest["spec"]["initContainers"] = [
        container("first", image="busybox:1.36", run_seconds=0.02),
        container("second", image="busybox:1.36", run_seconds=0.02),
    ]
    pod = await sim.create("pods", manifest)
    uid = pod["metadata"]["uid"]
    ready = await sim.truth.wait_for(uid, "ready", timeout=5)
    t = sim.truth.times(uid)
    assert t["accepted"] < t["init_started:first"] < t["init_completed:first"]
    assert t["init_completed:first"] < t["init_started:second"] < t["init_completed:second"]
    assert t["init_completed:second"] <= t["initialized"] < t["container_started:main"] < ready
    status = sim.get("pods", "init")["status"]
    for cs in status["initContainerStatuses"]:
        assert cs["state"]["terminated"]["reason"] == "Completed"
        assert cs["state"]["terminated"]["exitCode"] == 0
        assert cs["ready"] is True and cs["started"] is False
    paths = {e["involvedObject"].get("fieldPath") for e in events_of(sim, uid)}
    assert {"spec.initContainers{first}", "spec.initContainers{second}"} <= paths


async def test_run_to_completion_pod_succeeds_or_fails_by_exit_code(make_sim: MakeSim) -> None:
    """restartPolicy Never: terminated with its exitCode; phase Succeeded (0) or Failed (not 0)."""
    sim = await make_sim(**CONTROL)
    uids = {}
    for name, code in (("ok", 0), ("bad", 2)):
        manifest = pod_manifest(
            name, containers=[container("job", run_seconds=0.05, exit_code=code)]
        )
        manifest["spec"]["restartPolicy"] = "Never"
        uids[name] = (await sim.create("pods", manifest))["metadata"]["uid"]
    await sim.truth.wait_for(uids["ok"], "succeeded", timeout=5)
    await sim.truth.wait_for(uids["bad"], "failed", timeout=5)
    ok, bad = sim.get("pods", "ok")["status"], sim.get("pods", "bad")["status"]
    assert ok["phase"] == "Succeeded" and bad["phase"] == "Failed"
    assert ok["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert bad["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert bad["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error"
    ready = {c["type"]: c for c in ok["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "PodCompleted")


async def test_crashing_container_enters_crash_loop_back_off(make_sim: MakeSim) -> None:
    """restartCount grows; waiting CrashLoopBackOff, lastState.terminated; one BackOff event."""
    sim = await make_sim(**CONTROL)
    pod = await sim.create(
        "pods", pod_manifest("crash", containers=[container("app", run_seconds=0.02, exit_code=1)])
    )
    uid = pod["metadata"]["uid"]
    await sim.truth.wait_for(uid, "crashloop:app", timeout=5)
    cs = _status(sim, "crash")
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    # The configured first back-off (CONTROL: 0.1 s; the kubelet's is 10 s), as Go prints it.
    assert cs["state"]["waiting"]["message"] == (
        f"back-off 0.1s restarting failed container=app pod=crash_default({uid})"
    )
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["restartCount"] >= 1
    await sim.truth.wait_for(uid, "restarted:app", timeout=5)
    backoffs = [e for e in events_of(sim, uid) if e["reason"] == "BackOff"]
    assert len(backoffs) == 1 and backoffs[0]["type"] == "Warning"
    assert (
        backoffs[0]["message"]
        == f"Back-off restarting failed container app in pod crash_default({uid})"
    )
    assert sim.get("pods", "crash")["status"]["phase"] == "Running"


async def test_failing_image_pull_goes_err_image_pull_then_back_off(make_sim: MakeSim) -> None:
    """ErrImagePull then ImagePullBackOff, with the kubelet's Failed and BackOff events."""
    sim = await make_sim(**CONTROL)
    image = "ghcr.io/example/nope:1"
    pod = await sim.create(
        "pods",
        pod_manifest("pull", containers=[container("app", image=image, pull_error="not found")]),
    )
    uid = pod["metadata"]["uid"]
    failed_at = await sim.truth.wait_for(uid, "pull_failed:app", timeout=5)
    backoff_at = await sim.truth.wait_for(uid, "image_pull_backoff:app", timeout=5)
    assert failed_at < backoff_at
    cs = _status(sim, "pull")
    assert cs["state"]["waiting"]["reason"] in ("ImagePullBackOff", "ErrImagePull")
    events = [(e["type"], e["reason"], e["message"]) for e in events_of(sim, uid)][1:5]
    assert events[0] == ("Normal", "Pulling", f'Pulling image "{image}"')
    assert events[1][:2] == ("Warning", "Failed") and events[1][2].startswith(
        f'Failed to pull image "{image}": '
    )
    assert events[2] == ("Warning", "Failed", "Error: ErrImagePull")
    assert events[3] == ("Normal", "BackOff", f'Back-off pulling image "{image}"')
    assert sim.get("pods", "pull")["status"]["phase"] == "Pending"


async def test_readiness_delay_holds_ready_back(make_sim: MakeSim) -> None:
    """SIM_READY_DELAY_SECONDS is the gap from a container's start to the pod's Ready."""
    sim = await make_sim(**CONTROL)
    pod = await sim.create(
        "pods", pod_manifest("slow", containers=[container("app", ready_delay_seconds=0.3)])
    )
    uid = pod["metadata"]["uid"]
    ready = await sim.truth.wait_for(uid, "ready", timeout=5)
    started = sim.truth.times(uid)["container_started:app"]
    assert 0.3e9 <= ready - started < 0.45e9


async def test_speed_factor_divides_latencies(make_sim: MakeSim) -> None:
    """SimOptions.speed divides every latency: a 0.4 s readiness delay takes 0.1 s at speed 4."""
    sim = await make_sim(speed=4.0, **CONTROL)
    pod = await sim.create(
        "pods", pod_manifest("fast", containers=[container("app", ready_delay_seconds=0.4)])
    )
    uid = pod["metadata"]["uid"]
    ready = await sim.truth.wait_for(uid, "ready", timeout=5)
    assert 0.1e9 <= ready - sim.truth.times(uid)["container_started:app"] < 0.2e9
