"""Server-side Table output: the printers' cells, the Table envelope, and kubectl reading them.

Expected values follow kube-apiserver's printers (`pkg/printers/internalversion/
printers.go`, v1.32) and `duration.HumanDuration` (`apimachinery/pkg/util/duration`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.sim.conftest import MakeSim, read_lines
from tests.sim.test_kubectl import DEPLOYMENT_YAML, Kubectl
from tracewatch.sim import Latency, SimCluster, pod_manifest
from tracewatch.sim.printers import (
    event_cells,
    human_duration,
    node_cells,
    persistentvolume_cells,
    persistentvolumeclaim_cells,
    pod_cells,
)
from tracewatch.sim.resources import RESOURCES
from tracewatch.sim.selectors import Selector
from tracewatch.sim.table_columns import PRINTERS
from tracewatch.sim.tables import requested_table
from tracewatch.sim.timestamps import NS_PER_S, rfc3339
from tracewatch.sim.workload_printers import deployment_cells, job_cells

NOW = 1_700_000_000 * NS_PER_S
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
KUBECTL_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,"
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
)


def ago(seconds: int) -> str:
    return rfc3339(NOW - seconds * NS_PER_S)


# HumanDuration (duration.go): seconds below 2m, then m+s below 10m, minutes below 3h, ...


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-2, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (185, "3m5s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (7 * 3600 + 59 * 60, "7h59m"),
        (47 * 3600, "47h"),
        (52 * 3600, "2d4h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_duration_follows_apimachinery(seconds: int, text: str) -> None:
    """Ages print with HumanDuration's precision steps (2m, 10m, 3h, 8h, 48h, 8d, 2y, 8y)."""
    assert human_duration(seconds * NS_PER_S + (NS_PER_S // 2 if seconds >= 0 else 0)) == text


# printPod's STATUS rules


def pod(
    *,
    status: dict[str, Any] | None = None,
    init: list[dict[str, Any]] | None = None,
    containers: int = 1,
    deleting: bool = False,
    gates: tuple[str, ...] = (),
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "nginx"} for i in range(containers)]
    }
    if init is not None:
        spec["initContainers"] = init
    if gates:
        spec["readinessGates"] = [{"conditionType": g} for g in gates]
    meta: dict[str, Any] = {"name": "p", "creationTimestamp": ago(90)}
    if deleting:
        meta["deletionTimestamp"] = ago(1)
    return {"metadata": meta, "spec": spec, "status": status or {"phase": "Pending"}}


def cs(state: dict[str, Any], *, ready: bool = False, restarts: int = 0, **extra: Any) -> Any:
    return {"name": "c0", "state": state, "ready": ready, "restartCount": restarts, **extra}


RUNNING = {"running": {"startedAt": ago(60)}}


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        (pod(), "0/1", "Pending", "0"),
        (
            pod(
                status={
                    "phase": "Pending",
                    "containerStatuses": [cs({"waiting": {"reason": "ContainerCreating"}})],
                }
            ),
            "0/1",
            "ContainerCreating",
            "0",
        ),
        (
            pod(status={"phase": "Running", "containerStatuses": [cs(RUNNING, ready=True)]}),
            "1/1",
            "Running",
            "0",
        ),
        (
            pod(status={"phase": "Running", "containerStatuses": [cs(RUNNING)]}),
            "0/1",
            "Running",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Running",
                    "containerStatuses": [
                        cs(
                            {"waiting": {"reason": "CrashLoopBackOff"}},
                            restarts=3,
                            lastState={"terminated": {"exitCode": 1, "finishedAt": ago(300)}},
                        )
                    ],
                }
            ),
            "0/1",
            "CrashLoopBackOff",
            "3 (5m ago)",
        ),
        (
            pod(
                status={
                    "phase": "Succeeded",
                    "containerStatuses": [
                        cs({"terminated": {"exitCode": 0, "reason": "Completed"}})
                    ],
                }
            ),
            "0/1",
            "Completed",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Running",
                    "containerStatuses": [cs({"terminated": {"exitCode": 137, "signal": 9}})],
                }
            ),
            "0/1",
            "Signal:9",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Pending",
                    "containerStatuses": [cs({"waiting": {"reason": "ErrImagePull"}})],
                }
            ),
            "0/1",
            "ErrImagePull",
            "0",
        ),
        (
            pod(
                status={"phase": "Running", "containerStatuses": [cs(RUNNING, ready=True)]},
                deleting=True,
            ),
            "1/1",
            "Terminating",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Pending",
                    "initContainerStatuses": [cs({"waiting": {"reason": "PodInitializing"}})],
                    "containerStatuses": [cs({"waiting": {"reason": "PodInitializing"}})],
                },
                init=[{"name": "c0", "image": "busybox"}],
            ),
            "0/1",
            "Init:0/1",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Pending",
                    "initContainerStatuses": [cs({"waiting": {"reason": "ErrImagePull"}})],
                },
                init=[{"name": "c0", "image": "busybox"}],
            ),
            "0/1",
            "Init:ErrImagePull",
            "0",
        ),
        (
            pod(
                status={
                    "phase": "Pending",
                    "initContainerStatuses": [cs({"terminated": {"exitCode": 2}}, restarts=1)],
                },
                init=[{"name": "c0", "image": "busybox"}],
            ),
            "0/1",
            "Init:ExitCode:2",
            "1",
        ),
        (
            pod(
                status={
                    "phase": "Pending",
                    "conditions": [
                        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                    ],
                }
            ),
            "0/1",
            "SchedulingGated",
            "0",
        ),
        (
            pod(
                status={"phase": "Running", "reason": "NodeLost", "containerStatuses": []},
                deleting=True,
            ),
            "0/1",
            "Unknown",
            "0",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and v and not v[0].isdigit() else None,
)
def test_pod_status_follows_print_pod(
    obj: dict[str, Any], ready: str, status: str, restarts: str
) -> None:
    """READY, STATUS and RESTARTS come out as printPod computes them for that pod state."""
    cells, _ = pod_cells(obj, NOW)
    assert cells[:5] == ["p", ready, status, restarts, "90s"]


def test_completed_pod_with_a_running_container_is_running_or_not_ready() -> None:
    """A Completed reason with a container still running reads Running (Ready) or NotReady."""
    statuses = [
        {**cs({"terminated": {"exitCode": 0, "reason": "Completed"}}), "name": "c1"},
        cs(RUNNING, ready=True),
    ]
    obj = pod(status={"phase": "Running", "containerStatuses": statuses}, containers=2)
    assert pod_cells(obj, NOW)[0][1:3] == ["1/2", "NotReady"]
    obj["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert pod_cells(obj, NOW)[0][1:3] == ["1/2", "Running"]


def test_sidecar_init_containers_count_toward_ready_and_restarts() -> None:
    """A restartable init container adds to the total, its readiness and its restarts."""
    obj = pod(
        status={
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [
                cs(RUNNING, ready=True, restarts=2, started=True, name="side"),
            ],
            "containerStatuses": [cs(RUNNING, ready=True)],
        },
        init=[{"name": "side", "image": "envoy", "restartPolicy": "Always"}],
    )
    cells, _ = pod_cells(obj, NOW)
    assert cells[1:4] == ["2/2", "Running", "2"]


def test_pod_wide_cells_and_row_conditions() -> None:
    """Wide cells: IP, node, nominated node, readiness gates; a Succeeded pod's row is Completed."""
    obj = pod(
        status={
            "phase": "Succeeded",
            "podIPs": [{"ip": "10.1.2.3"}],
            "conditions": [
                {"type": "gate-a", "status": "True"},
                {"type": "gate-b", "status": "False"},
            ],
        },
        gates=("gate-a", "gate-b"),
    )
    obj["spec"]["nodeName"] = "node-1"
    cells, conditions = pod_cells(obj, NOW)
    assert cells[5:] == ["10.1.2.3", "node-1", "<none>", "1/2"]
    assert conditions is not None and conditions[0]["reason"] == "Succeeded"
    assert pod_cells(pod(), NOW) == (
        ["p", "0/1", "Pending", "0", "90s", "<none>", "<none>", "<none>", "<none>"],
        None,
    )


def test_deployment_cells_and_selector() -> None:
    """printDeployment: ready/desired, numeric up-to-date/available, template and selector."""
    obj = {
        "metadata": {"name": "web", "creationTimestamp": ago(3 * 3600 + 60)},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}],
            },
            "template": {
                "spec": {
                    "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:2"}]
                }
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 1, "availableReplicas": 2},
    }
    assert deployment_cells(obj, NOW) == [
        "web",
        "2/3",
        1,
        2,
        "3h1m",
        "a,b",
        "x:1,y:2",
        "app=web,tier in (a,b)",
    ]
    assert deployment_cells({"spec": {"replicas": 1}}, NOW)[1:5] == ["0/1", 0, 0, "<unknown>"]


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        ({"completions": 3}, {"succeeded": 1, "startTime": ago(30)}, ["Running", "1/3", "30s"]),
        ({"parallelism": 2}, {}, ["Running", "0/1 of 2", ""]),
        (
            {},
            {
                "succeeded": 1,
                "startTime": ago(100),
                "completionTime": ago(40),
                "conditions": [{"type": "Complete", "status": "True"}],
            },
            ["Complete", "1/1", "60s"],
        ),
        ({}, {"conditions": [{"type": "Failed", "status": "True"}]}, ["Failed", "0/1", ""]),
        ({}, {"conditions": [{"type": "Suspended", "status": "True"}]}, ["Suspended", "0/1", ""]),
    ],
)
def test_job_status_completions_and_duration(
    spec: dict[str, Any], status: dict[str, Any], expected: list[str]
) -> None:
    """printJob: STATUS from conditions, COMPLETIONS by completions/parallelism, DURATION."""
    obj = {"metadata": {"name": "j", "creationTimestamp": ago(200)}, "spec": spec, "status": status}
    assert job_cells(obj, NOW)[1:4] == expected


def test_node_status_and_roles() -> None:
    """printNode: Ready/NotReady plus SchedulingDisabled, roles from both label forms."""
    obj = {
        "metadata": {
            "name": "n",
            "creationTimestamp": ago(86400 * 3),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0"},
            "addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
        },
    }
    assert node_cells(obj, NOW) == [
        "n",
        "NotReady,SchedulingDisabled",
        "control-plane,edge",
        "3d",
        "v1.32.0",
        "10.0.0.2",
        "<none>",
        "<unknown>",
        "<unknown>",
        "<unknown>",
    ]
    assert node_cells({"metadata": {"name": "m"}}, NOW)[1:3] == ["Unknown", "<none>"]


def test_event_cells() -> None:
    """printEvent (wide): last seen, object `kind/name`, source with host, count defaulting to 1."""
    obj = {
        "metadata": {"name": "p.17f"},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{main}"},
        "reason": "Pulled",
        "message": "  done \n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600),
        "lastTimestamp": ago(5),
        "type": "Normal",
    }
    assert event_cells(obj, NOW) == [
        "5s",
        "Normal",
        "Pulled",
        "pod/p",
        "spec.containers{main}",
        "kubelet, node-1",
        "done",
        "10m",
        1,
        "p.17f",
    ]
    micro = {"eventTime": rfc3339(NOW - 7 * NS_PER_S)[:-1] + ".250000Z", "reportingComponent": "s"}
    # 6.75 s ago: HumanDuration truncates, and a MicroTime keeps its microseconds.
    assert event_cells(micro, NOW)[0] == "6s" and event_cells(micro, NOW)[5] == "s"


def test_volume_and_claim_cells() -> None:
    """PV and PVC rows: access modes as RWO/ROX/RWX/RWOP, claim, class, and bound-only capacity."""
    pv = {
        "metadata": {"name": "pv1", "creationTimestamp": ago(10)},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "standard",
            "volumeMode": "Filesystem",
        },
        "status": {"phase": "Bound"},
    }
    assert persistentvolume_cells(pv, NOW) == [
        "pv1",
        "1Gi",
        "RWO,RWX",
        "Delete",
        "Bound",
        "default/data",
        "standard",
        "<unset>",
        "",
        "10s",
        "Filesystem",
    ]
    pending = {"metadata": {"name": "data"}, "spec": {}, "status": {"phase": "Pending"}}
    assert persistentvolumeclaim_cells(pending, NOW)[1:5] == ["Pending", "", "", ""]
    bound = {
        "metadata": {"name": "data", "deletionTimestamp": ago(1)},
        "spec": {"volumeName": "pv1", "storageClassName": "standard"},
        "status": {
            "phase": "Bound",
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
        },
    }
    assert persistentvolumeclaim_cells(bound, NOW)[1:6] == [
        "Terminating",
        "pv1",
        "1Gi",
        "RWO",
        "standard",
    ]


def test_every_printer_prints_one_cell_per_column_even_for_an_empty_object() -> None:
    """Each kind's row has as many cells as columns, also for a bare bookmark-like object."""
    bare = {"kind": "X", "metadata": {"resourceVersion": "5"}}
    for resource, printer in PRINTERS.items():
        cells, _ = printer.row(bare, NOW)
        assert len(cells) == len(printer.columns), resource


# the Table envelope over HTTP


async def test_list_as_table_keeps_list_metadata_and_partial_metadata_rows(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """A Table list has the columns, one row per item, the list rv and continue token."""
    for name in ("a", "b", "c"):
        pod = pod_manifest(name)
        # No scheduler serves this name: nothing writes the pods after their creation, so the
        # rows can be compared with the pods as they are after the list.
        pod["spec"]["schedulerName"] = "nobodys-scheduler"
        await sim.create("pods", pod)
    headers = {"Accept": KUBECTL_ACCEPT}
    path = "/api/v1/namespaces/default/pods"
    async with http.get(path, params={"limit": "2"}, headers=headers) as response:
        assert response.status == 200 and response.content_type == "application/json"
        table = await response.json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [c.name for c in PRINTERS["pods"].columns]
    assert names[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert [c["priority"] for c in table["columnDefinitions"]] == [0] * 5 + [1] * 4
    assert [r["cells"][0] for r in table["rows"]] == ["a", "b"]
    assert table["metadata"]["continue"] and table["metadata"]["remainingItemCount"] == 1
    partial = table["rows"][0]["object"]
    assert partial["kind"] == "PartialObjectMetadata"
    assert partial["apiVersion"] == "meta.k8s.io/v1"
    assert partial["metadata"] == sim.get("pods", "a")["metadata"]
    params = {"limit": "2", "continue": table["metadata"]["continue"]}
    async with http.get(path, params=params, headers=headers) as response:
        rest = await response.json()
    assert [r["cells"][0] for r in rest["rows"]] == ["c"]
    assert rest["metadata"]["resourceVersion"] == table["metadata"]["resourceVersion"]


async def test_get_as_table_and_include_object(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """One object's Table carries its rv; includeObject picks Object, None or bad (400)."""
    pod = pod_manifest("one")
    pod["spec"]["schedulerName"] = "nobodys-scheduler"  # never bound: its rv stays
    created = await sim.create("pods", pod)
    path = "/api/v1/namespaces/default/pods/one"
    accept = {"Accept": "application/json;as=Table;v=v1beta1;g=meta.k8s.io"}
    async with http.get(path, headers=accept) as response:
        table = await response.json()
    assert table["apiVersion"] == "meta.k8s.io/v1beta1"
    assert len(table["rows"]) == 1 and table["rows"][0]["cells"][0] == "one"
    assert table["metadata"] == {"resourceVersion": created["metadata"]["resourceVersion"]}
    async with http.get(path, params={"includeObject": "Object"}, headers=accept) as response:
        whole = (await response.json())["rows"][0]["object"]
    assert whole["kind"] == "Pod" and whole["spec"] == sim.get("pods", "one")["spec"]
    async with http.get(path, params={"includeObject": "None"}, headers=accept) as response:
        assert (await response.json())["rows"][0]["object"] is None
    async with http.get(path, params={"includeObject": "All"}, headers=accept) as response:
        assert response.status == 400
        message = (await response.json())["message"]
    assert 'includeObject: Unsupported value: "All"' in message


async def test_plain_json_is_unchanged_when_no_table_is_asked_for(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Without a Table in Accept (or with only an unserved conversion) the stored bytes are sent."""
    await sim.create("pods", pod_manifest("raw"))
    stored = sim.registry.get("pods", namespace="default", name="raw").data
    for accept in ("application/json", "application/json;as=Foo;g=x;v=v1,application/json"):
        async with http.get(
            "/api/v1/namespaces/default/pods/raw", headers={"Accept": accept}
        ) as response:
            assert await response.read() == stored
    listed = sim.registry.list_body(
        "pods", namespace="default", labels=Selector(), fields=Selector()
    )
    async with http.get("/api/v1/namespaces/default/pods", headers={"Accept": "*/*"}) as response:
        assert await response.read() == listed


async def test_watch_as_table_sends_columns_only_on_the_first_event(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """Each watch event is a one-row Table; only the stream's first carries columnDefinitions."""
    await sim.create("pods", pod_manifest("w1"))
    params = {"watch": "1", "timeoutSeconds": "5"}
    async with http.get(
        "/api/v1/namespaces/default/pods", params=params, headers={"Accept": TABLE}
    ) as response:
        first = await read_lines(response, count=1)
        await sim.create("pods", pod_manifest("w2"))
        rest = await read_lines(response, count=1)
    events = first + rest
    assert [e["type"] for e in events] == ["ADDED", "ADDED"]
    tables = [e["object"] for e in events]
    assert all(t["kind"] == "Table" and len(t["rows"]) == 1 for t in tables)
    assert [t["rows"][0]["cells"][0] for t in tables] == ["w1", "w2"]
    assert tables[0]["columnDefinitions"][0]["name"] == "Name"
    assert tables[1]["columnDefinitions"] is None
    rv = tables[1]["metadata"]["resourceVersion"]
    assert rv == tables[1]["rows"][0]["object"]["metadata"]["resourceVersion"]


async def test_watch_error_status_is_not_turned_into_a_table(
    sim: SimCluster, http: aiohttp.ClientSession
) -> None:
    """An in-stream 410 keeps its Status object even when the watch asked for Tables."""
    rv = sim.store.rv
    await sim.create("pods", pod_manifest("gone"))
    sim.store.compact()
    params = {"watch": "1", "resourceVersion": str(rv)}
    async with http.get("/api/v1/pods", params=params, headers={"Accept": TABLE}) as response:
        events = await read_lines(response, within=2.0)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["kind"] == "Status" and events[0]["object"]["code"] == 410


# the real kubectl


@pytest.fixture
async def slow_sim(make_sim: MakeSim) -> SimCluster:
    """TLS, and pulls and readiness slow enough to see a pod change state."""
    return await make_sim(tls=True, pull=Latency.fixed(1.0), readiness=Latency.fixed(0.3))


@pytest.fixture
def kubectl(slow_sim: SimCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(kubeconfig=slow_sim.write_kubeconfig(tmp_path / "config"), home=tmp_path)


def columns_of(line: str) -> list[str]:
    return line.split()


async def wait_ready(sim: SimCluster, resource: str, name: str) -> dict[str, Any]:
    for _ in range(300):
        obj = sim.get(resource, name)
        if resource == "pods" and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in obj.get("status", {}).get("conditions", ())
        ):
            return obj
        if resource == "deployments" and obj.get("status", {}).get("readyReplicas") == 2:
            return obj
        await asyncio.sleep(0.05)
    raise AssertionError(f"{resource}/{name} never became ready")


async def test_kubectl_get_pods_prints_the_server_columns(
    slow_sim: SimCluster, kubectl: Kubectl
) -> None:
    """`kubectl get pods` and `-A` print READY/STATUS/RESTARTS/AGE from the server's Table."""
    await slow_sim.create("pods", pod_manifest("web"))
    await wait_ready(slow_sim, "pods", "web")
    _, out, _ = await kubectl.run("get", "pods")
    header, row = out.splitlines()
    assert columns_of(header) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert columns_of(row)[:4] == ["web", "1/1", "Running", "0"]
    _, out, _ = await kubectl.run("get", "pods", "-A")
    assert columns_of(out.splitlines()[0])[:3] == ["NAMESPACE", "NAME", "READY"]
    assert columns_of(out.splitlines()[1])[:4] == ["default", "web", "1/1", "Running"]


async def test_kubectl_get_deployment_wide(
    slow_sim: SimCluster, kubectl: Kubectl, tmp_path: Path
) -> None:
    """`kubectl get deploy -o wide` shows READY, UP-TO-DATE, AVAILABLE and the wide columns."""
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(DEPLOYMENT_YAML)
    await kubectl.run("create", "-f", str(manifest))
    await wait_ready(slow_sim, "deployments", "web")
    _, out, _ = await kubectl.run("get", "deploy", "-o", "wide")
    header, row = out.splitlines()
    assert columns_of(header) == [
        "NAME",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ]
    cells = columns_of(row)
    assert cells[:4] == ["web", "2/2", "2", "2"]
    assert cells[5:] == ["app", "registry.k8s.io/pause:3.10", "app=web"]


async def test_kubectl_get_pods_watch_shows_status_changes(
    slow_sim: SimCluster, kubectl: Kubectl
) -> None:
    """`kubectl get pods -w` prints one header, then the pod's rows as its STATUS changes."""
    process = await kubectl.start("get", "pods", "-w")
    assert process.stdout is not None
    try:
        await slow_sim.create("pods", pod_manifest("watched"))
        lines: list[list[str]] = []
        while not lines or lines[-1][1:3] != ["1/1", "Running"]:
            raw = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert raw, "kubectl exited"
            lines.append(columns_of(raw.decode()))
    finally:
        process.terminate()
        await process.wait()
    assert lines[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    rows = lines[1:]
    assert all(r[0] == "watched" for r in rows)
    assert [r for r in lines if r[0] == "NAME"] == [lines[0]]
    assert any(r[2] in ("Pending", "ContainerCreating") for r in rows[:-1])


def test_table_bytes_are_json_with_go_field_order() -> None:
    """The envelope's keys follow metav1.Table (kind, apiVersion, metadata, columns, rows)."""
    table = requested_table(accept=TABLE, query={}, info=RESOURCES["leases"])
    assert table is not None
    body = orjson.loads(
        table.object_body(orjson.dumps({"metadata": {"name": "l", "resourceVersion": "9"}}))
    )
    assert list(body) == ["kind", "apiVersion", "metadata", "columnDefinitions", "rows"]
    assert list(body["columnDefinitions"][0]) == [
        "name",
        "type",
        "format",
        "description",
        "priority",
    ]
    assert body["rows"][0]["cells"] == ["l", "", "<unknown>"]
