"""A Deployment's status from its ReplicaSets (pkg/controller/deployment: sync.go's
calculateStatus, progress.go's syncRolloutStatus), as a pure function.

The counts sum the owned ReplicaSets' status (omitempty: zeros are left out);
Available follows maxUnavailable; Progressing says ReplicaSetUpdated whenever a
count moved, NewReplicaSetAvailable once the rollout is complete, and False
ProgressDeadlineExceeded once progressDeadlineSeconds passed since its
lastUpdateTime without progress. The controller writes the status when it
differs from the stored one and looks again when the deadline falls due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tracewatch.sim.controllers.base import parse_time, set_condition
from tracewatch.sim.controllers.rollout import fenceposts, replicas_of, status_count
from tracewatch.sim.timestamps import NS_PER_S

_STATUS_ORDER = (
    "observedGeneration",
    "replicas",
    "updatedReplicas",
    "readyReplicas",
    "availableReplicas",
    "unavailableReplicas",
    "conditions",
    "collisionCount",
)
_AVAILABLE = {
    True: ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
    False: (
        "False",
        "MinimumReplicasUnavailable",
        "Deployment does not have minimum availability.",
    ),
}


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    """The status to hold, and what it means for the rollout."""

    status: dict[str, Any]
    complete: bool
    """DeploymentComplete: every replica updated and available at the observed generation."""
    timed_out: bool
    """Progressing is False ProgressDeadlineExceeded."""
    recheck_after_s: float | None
    """requeueStuckDeployment: seconds until the progress deadline falls due, if pending."""


def deployment_status(
    d: dict[str, Any], rss: list[dict[str, Any]], new: dict[str, Any] | None, *, at_ns: int
) -> StatusVerdict:
    """The status Deployment `d` should have, given its owned ReplicaSets `rss` (`new` among
    them, or None), at `at_ns`; conditions move as SetDeploymentCondition moves them."""
    meta, spec = d["metadata"], d["spec"]
    desired = int(spec.get("replicas", 1))
    _, unavailable_budget = fenceposts(d)
    available = sum(status_count(rs, "availableReplicas") for rs in rss)
    values = {
        "observedGeneration": int(meta.get("generation") or 1),
        "replicas": sum(status_count(rs, "replicas") for rs in rss),
        "updatedReplicas": status_count(new, "replicas") if new else 0,
        "readyReplicas": sum(status_count(rs, "readyReplicas") for rs in rss),
        "availableReplicas": available,
        "unavailableReplicas": max(0, sum(replicas_of(rs) for rs in rss) - available),
    }
    old_status = d.get("status") or {}
    conditions = orjson.loads(orjson.dumps(old_status.get("conditions") or []))
    status_, reason, message = _AVAILABLE[available >= desired - unavailable_budget]
    set_condition(
        conditions,
        type_="Available",
        status=status_,
        reason=reason,
        message=message,
        at_ns=at_ns,
        update_time=True,
    )
    complete = (
        values["updatedReplicas"] == desired
        and values["replicas"] == desired
        and available == desired
        and values["observedGeneration"] >= int(meta.get("generation") or 1)
    )
    progressing = next((c for c in conditions if c["type"] == "Progressing"), None)
    already_complete = (
        values["replicas"] == values["updatedReplicas"]
        and progressing is not None
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )
    rs_name = new["metadata"]["name"] if new else ""
    timed_out = False
    recheck_after_s = None
    if new is not None and not already_complete and not spec.get("paused"):
        old_old = int(old_status.get("replicas", 0)) - int(old_status.get("updatedReplicas", 0))
        made_progress = (
            values["updatedReplicas"] > int(old_status.get("updatedReplicas", 0))
            or values["replicas"] - values["updatedReplicas"] < old_old
            or values["readyReplicas"] > int(old_status.get("readyReplicas", 0))
            or available > int(old_status.get("availableReplicas", 0))
        )
        if complete:
            set_condition(
                conditions,
                type_="Progressing",
                status="True",
                reason="NewReplicaSetAvailable",
                message=f'ReplicaSet "{rs_name}" has successfully progressed.',
                at_ns=at_ns,
                update_time=True,
            )
        elif made_progress:
            set_condition(
                conditions,
                type_="Progressing",
                status="True",
                reason="ReplicaSetUpdated",
                message=f'ReplicaSet "{rs_name}" is progressing.',
                at_ns=at_ns,
                update_time=True,
                force=True,
            )
        elif progressing is not None and progressing.get("reason") != "NewReplicaSetAvailable":
            since = parse_time(progressing.get("lastUpdateTime")) or at_ns
            left = since + int(spec.get("progressDeadlineSeconds", 600)) * NS_PER_S - at_ns
            if progressing.get("reason") == "ProgressDeadlineExceeded" or left < 0:
                timed_out = True
                set_condition(
                    conditions,
                    type_="Progressing",
                    status="False",
                    reason="ProgressDeadlineExceeded",
                    message=f'ReplicaSet "{rs_name}" has timed out progressing.',
                    at_ns=at_ns,
                    update_time=True,
                )
            else:
                recheck_after_s = left / NS_PER_S + 0.05
    status: dict[str, Any] = {k: v for k, v in values.items() if v}
    status["conditions"] = conditions
    if old_status.get("collisionCount"):
        status["collisionCount"] = old_status["collisionCount"]
    status = {k: status[k] for k in _STATUS_ORDER if k in status}
    return StatusVerdict(status, complete, timed_out, recheck_after_s)
