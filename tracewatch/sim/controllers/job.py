"""The Job controller (pkg/controller/job/job_controller.go, 1.31+ conditions), simulated.

Per sync of an unfinished Job: `status.startTime` on the first; pods
(`generateName: <job>-`, labels `batch.kubernetes.io/controller-uid`,
`batch.kubernetes.io/job-name`, `controller-uid`, `job-name`) are created up
to min(parallelism, completions - succeeded), after a doubling back-off
(`restart_backoff`, scaled) following each failure; failures are Failed pods
plus container restarts (restartPolicy OnFailure).
- succeeded >= completions: conditions SuccessCriteriaMet then Complete (reason
  CompletionsReached, "Reached expected number of succeeded pods"),
  completionTime, Event `Completed` "Job completed";
- failures > backoffLimit (default 6): FailureTarget then Failed, reason
  BackoffLimitExceeded "Job has reached the specified backoff limit", active
  pods deleted, Warning Event `BackoffLimitExceeded`;
- activeDeadlineSeconds passed: the same with reason DeadlineExceeded
  "Job was active longer than specified deadline".
Status fields: conditions, startTime, completionTime, active, succeeded, failed
(omitempty), uncountedTerminatedPods, ready. Events come from `job-controller`.

Ground truth per Job uid: `started`, `complete`, `failed`.
Not simulated: Indexed completion mode, pod failure policies, the job-tracking finalizer.
"""

from __future__ import annotations

from typing import Any

from tracewatch.sim.behaviour import backoff_seconds
from tracewatch.sim.controllers.base import (
    Context,
    ObjKey,
    WorkQueue,
    controller_uid,
    parse_time,
    pod_is_ready,
    ref_of,
    status_update,
)
from tracewatch.sim.controllers.index import OwnerIndex
from tracewatch.sim.controllers.replicaset import pod_from_template
from tracewatch.sim.errors import ApiError
from tracewatch.sim.timestamps import NS_PER_S, now_ns, rfc3339

COMPONENT = "job-controller"
MANAGER = "kube-controller-manager"
_ORDER = (
    "conditions",
    "startTime",
    "completionTime",
    "active",
    "succeeded",
    "failed",
    "uncountedTerminatedPods",
    "ready",
)


def _condition(type_: str, reason: str, message: str, at: int) -> dict[str, Any]:
    now = rfc3339(at)
    return {
        "type": type_,
        "status": "True",
        "lastProbeTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


class JobController:
    """Runs each Job's pods to its completions, or fails it."""

    def __init__(self, *, ctx: Context, index: OwnerIndex) -> None:
        self._ctx = ctx
        self._index = index
        self.queue = WorkQueue(name="job", sync=self.sync, tasks=ctx.tasks)
        self._last_failure: dict[str, int] = {}

    def enqueue(self, key: ObjKey, *, after: float | None = None) -> None:
        options = self._ctx.options
        delay = options.delay(options.controller_sync, self._ctx.rng) if after is None else after
        self.queue.add(key, after=delay)

    def on_job(self, type_: str, job: dict[str, Any]) -> None:
        if type_ == "DELETED":
            self._last_failure.pop(job["metadata"]["uid"], None)
        else:
            self.enqueue((job["metadata"]["namespace"], job["metadata"]["name"]))

    def on_pod(self, type_: str, pod: dict[str, Any]) -> None:
        for ref in pod["metadata"].get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == "Job":
                self.enqueue((pod["metadata"]["namespace"], ref["name"]))

    def _event(
        self, stored: Any, job: dict[str, Any], reason: str, message: str, *, warning: bool = False
    ) -> None:
        self._ctx.recorder.legacy(
            about=ref_of(stored, job),
            at_ns=now_ns(),
            reason=reason,
            message=message,
            component=COMPONENT,
            host="",
            type_="Warning" if warning else "Normal",
        )

    def sync(self, key: ObjKey) -> None:
        registry = self._ctx.registry
        stored = registry.store.get("jobs", key)
        if stored is None:
            return
        job = stored.obj
        meta, spec = job["metadata"], job["spec"]
        old = job.get("status") or {}
        conditions = list(old.get("conditions") or ())
        if any(
            c["type"] in ("Complete", "Failed") and c.get("status") == "True" for c in conditions
        ):
            return
        uid = stored.uid
        at = now_ns()
        truth = registry.truth
        pods = []
        for _, pod_key in self._index.dependents(uid, resource="pods"):
            pod_stored = registry.store.get("pods", pod_key)
            if pod_stored is not None and controller_uid(pod_stored.obj) == uid:
                pods.append(pod_stored.obj)
        phases = [(p.get("status") or {}).get("phase") for p in pods]
        active = [
            p
            for p, ph in zip(pods, phases, strict=True)
            if ph not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")
        ]
        succeeded = phases.count("Succeeded")
        failed_pods = phases.count("Failed")
        restarts = sum(
            cs.get("restartCount", 0)
            for p in pods
            for cs in (p.get("status") or {}).get("containerStatuses") or ()
        )
        failures = failed_pods + restarts
        completions = int(spec.get("completions") or 1)
        parallelism = int(spec.get("parallelism", 1))
        backoff_limit = int(spec.get("backoffLimit", 6))
        start = old.get("startTime") or rfc3339(at)
        finished: tuple[str, str, str] | None = None
        if succeeded >= completions:
            finished = (
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
        elif failures > backoff_limit:
            finished = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif spec.get("activeDeadlineSeconds") is not None:
            deadline = (parse_time(start) or at) + int(spec["activeDeadlineSeconds"]) * NS_PER_S
            if at >= deadline:
                finished = (
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            else:
                self.enqueue(key, after=(deadline - at) / NS_PER_S + 0.05)
        status: dict[str, Any] = {"startTime": start}
        if finished is None:
            want = max(0, min(parallelism, completions - succeeded) - len(active))
            if want and failures:
                last = self._last_failure.setdefault(uid, at)
                wait = (
                    last
                    + int(
                        self._ctx.options.scaled(
                            backoff_seconds(
                                base=self._ctx.options.restart_backoff, attempt=failures
                            )
                        )
                        * NS_PER_S
                    )
                ) - at
                if wait > 0:
                    self.enqueue(key, after=wait / NS_PER_S)
                    want = 0
                else:
                    self._last_failure.pop(uid, None)
            for _ in range(want):
                template_owner = dict(job)
                pod = pod_from_template(template_owner)
                labels = pod["metadata"].setdefault("labels", {})
                labels.update(
                    {
                        "batch.kubernetes.io/controller-uid": uid,
                        "batch.kubernetes.io/job-name": meta["name"],
                        "controller-uid": uid,
                        "job-name": meta["name"],
                    }
                )
                created = registry.create("pods", pod, namespace=meta["namespace"], manager=MANAGER)
                self._event(
                    stored,
                    job,
                    "SuccessfulCreate",
                    f"Created pod: {created.obj['metadata']['name']}",
                )
        else:
            kind, reason, message = finished
            target = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
            conditions = [
                *conditions,
                _condition(target, reason, message, at),
                _condition(kind, reason, message, at),
            ]
            if kind == "Complete":
                status["completionTime"] = rfc3339(at)
            for pod in active:
                try:
                    registry.delete(
                        "pods", namespace=meta["namespace"], name=pod["metadata"]["name"]
                    )
                except ApiError:
                    continue
            active = []
        if conditions:
            status["conditions"] = conditions
        for field, value in (
            ("active", len(active)),
            ("succeeded", succeeded),
            ("failed", failed_pods),
        ):
            if value:
                status[field] = value
        status["uncountedTerminatedPods"] = {}
        status["ready"] = sum(1 for p in active if pod_is_ready(p))
        status = {k: status[k] for k in _ORDER if k in status}
        if status != old:
            written = status_update(
                registry,
                "jobs",
                namespace=meta["namespace"],
                name=meta["name"],
                status=status,
                manager=MANAGER,
                at_ns=at,
                uid=uid,
            )
            if written is None:
                return
        if not old.get("startTime"):
            truth.record(uid, "started", at)
        if finished is not None:
            kind, reason, message = finished
            if kind == "Complete":
                truth.record(uid, "complete", at)
                self._event(stored, job, "Completed", "Job completed")
            else:
                truth.record(uid, "failed", at)
                self._event(stored, job, reason, message, warning=True)
