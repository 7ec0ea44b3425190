"""The kubelet's /status writes: their memoised FieldsV1 sets and the order they write in."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from tracewatch.sim.kubelet import _in_kubelet_order
from tracewatch.sim.objects import fields_v1, pod_status_fields


def _condition(type_: Any, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": "False", "lastProbeTime": None, **extra}


RUNNING = {
    "phase": "Running",
    "conditions": [_condition("Initialized"), _condition("Ready", reason="R", message="m")],
    "hostIP": "10.0.0.2",
    "hostIPs": [{"ip": "10.0.0.2"}],
    "podIP": "10.244.1.2",
    "podIPs": [{"ip": "10.244.1.2"}],
    "containerStatuses": [{"name": "main", "state": {"running": {}}}],
    "qosClass": "BestEffort",
}


def _with(**changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(RUNNING)
    status.update(changes)
    return status


@pytest.mark.parametrize(
    "statuses",
    [
        # The same shape with other pod IPs, values and condition details.
        [RUNNING, _with(podIP="10.244.9.9", podIPs=[{"ip": "10.244.9.9"}, {"ip": "fd00::9"}])],
        [RUNNING, _with(conditions=[_condition("Initialized"), _condition("Ready")])],
        [RUNNING, _with(conditions=[{"status": "True", "type": "Ready"}])],  # other key order
        # Keyed by something else, or not a string: walked, and never confused.
        [_with(conditions=[_condition("A", name="n")]), _with(conditions=[_condition("A")])],
        [_with(conditions=[_condition(1)]), _with(conditions=[_condition(True)])],
        [_with(conditions=[{"status": "True"}]), _with(conditions=["odd"]), _with(conditions="x")],
        # A map or an unknown keyed list in the status.
        [_with(extra={"a": 1}), _with(extra={"b": 1})],
        [_with(claims=[{"name": "a"}]), _with(claims=[{"name": "b"}])],
        [_with(podIPs=[]), _with(podIPs=[{"ip": "a"}, {"ip": "a"}]), _with(podIPs=None)],
    ],
)
def test_pod_status_fields_match_the_full_walk(statuses: list[dict[str, Any]]) -> None:
    """Memoised or not, each status gets exactly the set `fields_v1` walks out of it."""
    for status in statuses * 2:  # the second time through, from the memo
        expected = {"f:status": fields_v1(status)}
        assert orjson.dumps(pod_status_fields(status)) == orjson.dumps(expected)


def _reference_order(status: dict[str, Any]) -> dict[str, Any]:
    """The kubelet's order, spelled out: conditions by type rank, then status keys by rank."""
    ranks = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    keys = ["phase", "conditions", "message", "reason", "hostIP", "hostIPs", "podIP", "podIPs"]
    keys += ["startTime", "initContainerStatuses", "containerStatuses", "qosClass"]
    status = dict(status)
    status["conditions"] = sorted(
        status.get("conditions", []),
        key=lambda c: ranks.index(c["type"]) if c["type"] in ranks else len(ranks),
    )
    known = [k for k in keys if k in status]
    return {k: status[k] for k in known + [k for k in status if k not in known]}


@pytest.mark.parametrize(
    "status",
    [
        {"phase": "Pending", "qosClass": "BestEffort", "conditions": [_condition("PodScheduled")]},
        {"conditions": [_condition("Custom"), _condition("Ready"), _condition("Initialized")]},
        {"qosClass": "BestEffort", "extra": 1, "phase": "Pending"},  # no conditions
        _reference_order(RUNNING),  # already in order
    ],
)
def test_status_is_written_in_the_kubelets_order(status: dict[str, Any]) -> None:
    """Conditions sorted by type (unknown types last, stably) and keys in the kubelet's order."""
    expected = _reference_order(copy.deepcopy(status))
    for _ in range(2):  # the second time through, from the memos
        written = _in_kubelet_order(copy.deepcopy(status))
        assert orjson.dumps(written) == orjson.dumps(expected)
