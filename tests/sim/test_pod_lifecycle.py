"""A pod driven by the simulated scheduler and kubelet: statuses, events and ground truth."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.sim.conftest import MakeSim, read_lines
from tracewatch.sim import Latency, SimCluster, pod_manifest
from tracewatch.sim.objects import fields_v1
from tracewatch.sim.registry import owned_part
from tracewatch.sim.timestamps import micro_time, rfc3339

TWO_CONTAINERS = [
    {"name": "app", "image": "example/app:1.0"},
    {"name": "sidecar", "image": "sidecar:2.0"},
]


async def _replay(sim: SimCluster, resource: str, rv: str) -> list[dict[str, Any]]:
    """Every watch event of `resource` after `rv`, replayed from the history."""
    headers = {"Authorization": f"Bearer {sim.token}"}
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "0.2"}
    async with (
        aiohttp.ClientSession(base_url=sim.url, headers=headers) as http,
        http.get(f"/api/v1/{resource}", params=params) as response,
    ):
        return await read_lines(response)


def _conditions(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in pod["status"].get("conditions", ())}


async def _start_pod(sim: SimCluster, manifest: dict[str, Any]) -> tuple[str, str]:
    """Create the pod, wait until Ready; (uid, rv before creation)."""
    rv = str(sim.store.rv)
    pod = await sim.create("pods", manifest)
    uid = pod["metadata"]["uid"]
    await sim.truth.wait_for(uid, "ready", timeout=5)
    return uid, rv


async def test_pod_status_writes_follow_the_real_components(make_sim: MakeSim) -> None:
    """Binding, kubelet accept, sandbox, each container running, then Ready, as separate writes."""
    sim = await make_sim(nodes=1)
    uid, rv = await _start_pod(sim, pod_manifest("web-1", containers=TWO_CONTAINERS))
    pods = [e["object"] for e in await _replay(sim, "pods", rv)]
    created, bound, accepted, sandbox, first, second, ready = pods
    truth = sim.truth.times(uid)

    assert created["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    assert created["metadata"]["creationTimestamp"] == rfc3339(truth["created"])

    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["status"]["conditions"] == [
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": rfc3339(truth["scheduled"]),
        }
    ]

    cond = _conditions(accepted)
    assert list(cond) == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert cond["PodReadyToStartContainers"]["status"] == "False"
    assert cond["Initialized"]["status"] == "True"
    assert cond["Initialized"]["lastTransitionTime"] == rfc3339(truth["initialized"])
    for kind in ("Ready", "ContainersReady"):
        assert cond[kind]["status"] == "False"
        assert cond[kind]["reason"] == "ContainersNotReady"
        assert cond[kind]["message"] == "containers with unready status: [app sidecar]"
    assert accepted["status"]["phase"] == "Pending"
    assert accepted["status"]["startTime"] == rfc3339(truth["initialized"])
    assert accepted["status"]["hostIP"] == accepted["status"]["hostIPs"][0]["ip"]
    for cs in accepted["status"]["containerStatuses"]:
        assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}}
        assert cs["ready"] is False and cs["started"] is False and cs["restartCount"] == 0

    cond = _conditions(sandbox)
    assert cond["PodReadyToStartContainers"]["status"] == "True"
    assert cond["PodReadyToStartContainers"]["lastTransitionTime"] == rfc3339(
        truth["sandbox_ready"]
    )
    assert sandbox["status"]["podIP"]

    app, sidecar = first["status"]["containerStatuses"]
    assert app["state"] == {"running": {"startedAt": rfc3339(truth["container_started:app"])}}
    assert app["started"] is True and app["ready"] is False
    assert app["image"] == "docker.io/example/app:1.0" and app["imageID"].startswith("docker.io/")
    assert "waiting" in sidecar["state"]
    assert first["status"]["phase"] == "Pending"  # a container is still waiting
    assert second["status"]["phase"] == "Running"
    assert second["status"]["containerStatuses"][1]["state"]["running"]["startedAt"] == rfc3339(
        truth["container_started:sidecar"]
    )

    cond = _conditions(ready)
    for kind in ("Ready", "ContainersReady"):
        assert cond[kind]["status"] == "True"
        assert cond[kind]["lastTransitionTime"] == rfc3339(truth["ready"])
        assert "reason" not in cond[kind]
    assert all(cs["ready"] for cs in ready["status"]["containerStatuses"])
    assert ready["status"]["phase"] == "Running"
    kubelet = [m for m in ready["metadata"]["managedFields"] if m["manager"] == "kubelet"]
    assert kubelet[0]["subresource"] == "status"
    assert kubelet[0]["time"] == rfc3339(truth["ready"])
    # As real kubelets' entries show: containerStatuses and hostIPs are atomic lists,
    # conditions and podIPs keyed by their merge keys.
    status_set = kubelet[0]["fieldsV1"]["f:status"]
    assert status_set["f:containerStatuses"] == {} and status_set["f:hostIPs"] == {}
    assert set(status_set["f:conditions"]) == {f'k:{{"type":"{t}"}}' for t in cond}
    [pod_ip] = ready["status"]["podIPs"]
    assert set(status_set["f:podIPs"]) == {f'k:{{"ip":"{pod_ip["ip"]}"}}'}


async def test_ground_truth_orders_every_transition(make_sim: MakeSim) -> None:
    """True instants increase through the startup, containers in spec order."""
    sim = await make_sim(nodes=1)
    uid, _ = await _start_pod(sim, pod_manifest("web-1", containers=TWO_CONTAINERS))
    truth = sim.truth.times(uid)
    order = [
        "created",
        "scheduled",
        "initialized",
        "sandbox_ready",
        "pull_started:app",
        "pulled:app",
        "container_created:app",
        "container_started:app",
        "pull_started:sidecar",
        "pulled:sidecar",
        "container_created:sidecar",
        "container_started:sidecar",
        "ready",
    ]
    assert [truth[k] for k in order] == sorted(truth[k] for k in order)
    assert truth["running"] == truth["container_started:sidecar"]
    assert sim.truth.uid_of(namespace="default", name="web-1") == uid


async def test_scheduler_event_is_an_events_v1_event(make_sim: MakeSim) -> None:
    """Scheduled has eventTime in microseconds, no legacy timestamps, action Binding."""
    sim = await make_sim(nodes=1)
    uid, rv = await _start_pod(sim, pod_manifest("web-1"))
    events = [e["object"] for e in await _replay(sim, "events", rv)]
    pods = [e["object"] for e in await _replay(sim, "pods", rv)]
    [scheduled] = [e for e in events if e["reason"] == "Scheduled"]
    truth = sim.truth.times(uid)
    assert scheduled["eventTime"] == micro_time(truth["scheduled"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", scheduled["eventTime"])
    assert scheduled["firstTimestamp"] is None and scheduled["lastTimestamp"] is None
    assert "count" not in scheduled
    assert scheduled["source"] == {}
    assert scheduled["action"] == "Binding"
    assert scheduled["reportingComponent"] == "default-scheduler"
    assert scheduled["reportingInstance"].startswith("default-scheduler")
    assert scheduled["message"] == "Successfully assigned default/web-1 to node-1"
    assert scheduled["type"] == "Normal"
    assert scheduled["metadata"]["name"] == f"web-1.{truth['scheduled']:x}"
    # The scheduler refers to the version it scheduled: the pod as created, before the binding.
    assert scheduled["involvedObject"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": "web-1",
        "uid": uid,
        "apiVersion": "v1",
        "resourceVersion": pods[0]["metadata"]["resourceVersion"],
    }


async def test_kubelet_events_are_legacy_recorder_events(make_sim: MakeSim) -> None:
    """Pulling, Pulled, Created, Started: named by UnixNano, second-precision, count 1."""
    sim = await make_sim(nodes=1)
    uid, rv = await _start_pod(sim, pod_manifest("web-1", image="nginx:1.27"))
    truth = sim.truth.times(uid)
    kubelet = [e["object"] for e in await _replay(sim, "events", rv)][1:]
    assert [e["reason"] for e in kubelet] == ["Pulling", "Pulled", "Created", "Started"]
    keys = ["pull_started:main", "pulled:main", "container_created:main", "container_started:main"]
    for event, key in zip(kubelet, keys, strict=True):
        at = truth[key]
        assert event["metadata"]["name"] == f"web-1.{at:x}"
        assert event["firstTimestamp"] == event["lastTimestamp"] == rfc3339(at)
        assert event["metadata"]["creationTimestamp"] == rfc3339(at)
        assert event["count"] == 1 and event["eventTime"] is None
        assert event["source"] == {"component": "kubelet", "host": "node-1"}
        assert event["reportingComponent"] == "kubelet"
        assert event["reportingInstance"] == "node-1"
        assert event["involvedObject"]["fieldPath"] == "spec.containers{main}"
        assert event["involvedObject"]["uid"] == uid
        assert event["type"] == "Normal"
    pulling, pulled, created, started = kubelet
    assert pulling["message"] == 'Pulling image "nginx:1.27"'
    match = re.fullmatch(
        r'Successfully pulled image "nginx:1\.27" in (\d+)ms \((\d+)ms including waiting\)\. '
        r"Image size: \d+ bytes\.",
        pulled["message"],
    )
    assert match is not None, pulled["message"]
    assert 50 <= int(match.group(1)) <= int(match.group(2)) < 1000
    assert created["message"] == "Created container: main"
    assert started["message"] == "Started container main"


async def test_event_managed_fields_name_exactly_the_fields_the_recorder_set(
    make_sim: MakeSim,
) -> None:
    """Each Event's managedFields entry lists its own fields (recorders reuse sets by shape)."""
    sim = await make_sim(nodes=1)
    _, rv = await _start_pod(sim, pod_manifest("web-1", image="nginx:1.27"))
    events = [e["object"] for e in await _replay(sim, "events", rv)]
    assert {e["source"].get("component") for e in events} == {None, "kubelet"}
    for event in events:
        [entry] = event["metadata"]["managedFields"]
        assert entry["manager"] == event["reportingComponent"]
        assert entry["fieldsV1"] == fields_v1(owned_part(event)), event["reason"]
        assert set(entry["fieldsV1"]["f:involvedObject"]) == {
            f"f:{k}" for k in event["involvedObject"]
        }


async def test_image_already_on_the_node_is_not_pulled(make_sim: MakeSim) -> None:
    """A preloaded image gets the "already present" Pulled event and no pull."""
    sim = await make_sim(nodes=1, preloaded_images=("nginx:1.27",))
    uid, rv = await _start_pod(sim, pod_manifest("web-1", image="nginx:1.27"))
    events = [e["object"] for e in await _replay(sim, "events", rv)]
    assert [e["reason"] for e in events] == ["Scheduled", "Pulled", "Created", "Started"]
    assert events[1]["message"] == 'Container image "nginx:1.27" already present on machine'
    truth = sim.truth.times(uid)
    assert "pull_started:main" not in truth and "pulled:main" not in truth
    assert events[1]["metadata"]["name"] == f"web-1.{truth['image_present:main']:x}"


async def test_a_pulled_image_stays_on_the_node(make_sim: MakeSim) -> None:
    """The second pod using an image on the same node finds it cached."""
    sim = await make_sim(nodes=1)
    first, _ = await _start_pod(sim, pod_manifest("a", image="redis:7"))
    second, _ = await _start_pod(sim, pod_manifest("b", image="redis:7"))
    assert "pulled:main" in sim.truth.times(first)
    assert "image_present:main" in sim.truth.times(second)
    assert "redis:7" in sim.kubelets["node-1"].images


async def test_latest_tag_is_always_pulled(make_sim: MakeSim) -> None:
    """imagePullPolicy defaults to Always for :latest, so even a cached image is pulled."""
    sim = await make_sim(nodes=1, preloaded_images=("busybox:latest",))
    uid, _ = await _start_pod(sim, pod_manifest("a", image="busybox:latest"))
    assert sim.get("pods", "a")["spec"]["containers"][0]["imagePullPolicy"] == "Always"
    assert "pulled:main" in sim.truth.times(uid)


async def test_serialized_pulls_wait_for_each_other(make_sim: MakeSim) -> None:
    """With serialized pulls, a second pull on the node waits; its message says so."""
    sim = await make_sim(nodes=1)
    rv = str(sim.store.rv)
    a = await sim.create("pods", pod_manifest("a", image="one:1"))
    b = await sim.create("pods", pod_manifest("b", image="two:2"))
    for pod in (a, b):
        await sim.truth.wait_for(pod["metadata"]["uid"], "ready", timeout=5)
    ta, tb = (sim.truth.times(p["metadata"]["uid"]) for p in (a, b))
    first, second = sorted((ta, tb), key=lambda t: t["pull_started:main"])
    assert second["pulled:main"] >= first["pulled:main"] + 45_000_000
    pulled = [
        e["object"]["message"]
        for e in await _replay(sim, "events", rv)
        if e["object"]["reason"] == "Pulled"
    ]
    waits = [re.search(r"in (\d+)ms \((\d+)ms including waiting", m) for m in pulled]
    assert any(int(w.group(2)) > int(w.group(1)) + 30 for w in waits if w)


async def test_prebound_pod_skips_the_scheduler(make_sim: MakeSim) -> None:
    """A pod created with spec.nodeName is started by that node's kubelet, never scheduled."""
    sim = await make_sim(nodes=2)
    uid, rv = await _start_pod(sim, pod_manifest("pinned", node_name="node-2"))
    truth = sim.truth.times(uid)
    assert "scheduled" not in truth and "ready" in truth
    events = [e["object"] for e in await _replay(sim, "events", rv)]
    assert "Scheduled" not in [e["reason"] for e in events]
    assert {e["source"].get("host") for e in events} == {"node-2"}


async def test_scheduler_spreads_pods_over_nodes(sim: SimCluster) -> None:
    """Three pods on three empty nodes land on three different nodes."""
    uids = [(await sim.create("pods", pod_manifest(f"p{i}")))["metadata"]["uid"] for i in range(3)]
    for uid in uids:
        await sim.truth.wait_for(uid, "scheduled", timeout=5)
    nodes = {sim.get("pods", f"p{i}")["spec"]["nodeName"] for i in range(3)}
    assert nodes == {"node-1", "node-2", "node-3"}


async def test_a_node_a_deleted_pod_left_takes_the_next_pod(make_sim: MakeSim) -> None:
    """The scheduler counts a pod on its node until the pod is gone (its DELETED carries the
    spec encoded): each new pod goes to the node the last deleted pod left."""
    sim = await make_sim(nodes=2)
    for name in ("a", "b"):
        await _start_pod(sim, pod_manifest(name))
    for i, gone in enumerate(("a", "b", "p0", "p1")):
        freed = sim.get("pods", gone)["spec"]["nodeName"]
        uid = (await sim.delete("pods", gone))["metadata"]["uid"]
        await sim.truth.wait_for(uid, "deleted", timeout=5)
        await _start_pod(sim, pod_manifest(f"p{i}"))
        assert sim.get("pods", f"p{i}")["spec"]["nodeName"] == freed


async def test_graceful_delete_runs_through_the_kubelet(make_sim: MakeSim) -> None:
    """DELETE sets deletionTimestamp; the kubelet kills, writes the final status, removes."""
    sim = await make_sim(nodes=1)
    uid, _ = await _start_pod(sim, pod_manifest("web-1"))
    rv = str(sim.store.rv)
    response = await sim.delete("pods", "web-1")
    truth_at = sim.truth.times(uid)["deletion_requested"]
    assert response["metadata"]["deletionGracePeriodSeconds"] == 30
    assert response["metadata"]["deletionTimestamp"] == rfc3339(truth_at + 30 * 10**9)
    assert response["metadata"]["generation"] == 2
    await sim.truth.wait_for(uid, "deleted", timeout=5)
    pods = await _replay(sim, "pods", rv)
    assert [e["type"] for e in pods] == ["MODIFIED", "MODIFIED", "DELETED"]
    final = pods[1]["object"]
    assert final["status"]["phase"] == "Succeeded"
    [cs] = final["status"]["containerStatuses"]
    assert cs["state"]["terminated"]["reason"] == "Completed"
    assert cs["state"]["terminated"]["finishedAt"] == rfc3339(sim.truth.times(uid)["terminated"])
    assert pods[2]["object"]["metadata"]["uid"] == uid
    events = [e["object"] for e in await _replay(sim, "events", rv)]
    assert [(e["reason"], e["message"]) for e in events] == [("Killing", "Stopping container main")]
    truth = sim.truth.times(uid)
    keys = ["ready", "deletion_requested", "killing", "terminated", "deleted"]
    assert [truth[k] for k in keys] == sorted(truth[k] for k in keys)


async def test_deleting_an_unscheduled_pod_removes_it_at_once(make_sim: MakeSim) -> None:
    """No node, no kubelet to wait for: the pod goes straight to DELETED."""
    sim = await make_sim(nodes=0)
    pod = await sim.create("pods", pod_manifest("pending"))
    rv = str(sim.store.rv)
    await sim.delete("pods", "pending")
    pods = await _replay(sim, "pods", rv)
    assert [e["type"] for e in pods] == ["DELETED"]
    assert "deleted" in sim.truth.times(pod["metadata"]["uid"])


async def test_delete_during_startup_stops_it(make_sim: MakeSim) -> None:
    """A pod deleted mid-pull is terminated; its startup never reaches Ready."""
    sim = await make_sim(nodes=1, pull=Latency.fixed(0.5))
    pod = await sim.create("pods", pod_manifest("slow", image="big:1"))
    uid = pod["metadata"]["uid"]
    await sim.truth.wait_for(uid, "pull_started:main", timeout=5)
    await sim.delete("pods", "slow")
    await sim.truth.wait_for(uid, "deleted", timeout=5)
    truth = sim.truth.times(uid)
    assert "ready" not in truth and "container_started:main" not in truth


async def test_delete_over_http_returns_the_marked_pod(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """DELETE with gracePeriodSeconds answers 200 with the pod carrying that grace."""
    uid, _ = await _start_pod(sim, pod_manifest("web"))
    async with http.delete(
        "/api/v1/namespaces/default/pods/web", params={"gracePeriodSeconds": "5"}
    ) as response:
        body = await response.json()
    assert response.status == 200
    assert body["metadata"]["deletionGracePeriodSeconds"] == 5
    await sim.truth.wait_for(uid, "deleted", timeout=5)
    async with http.get("/api/v1/namespaces/default/pods/web") as response:
        assert response.status == 404
