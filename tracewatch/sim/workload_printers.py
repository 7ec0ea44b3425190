"""What `kubectl get` shows in the rows of workload kinds: Deployments, ReplicaSets,
StatefulSets, DaemonSets and Jobs.

Ports of `printDeployment`, `printReplicaSet`, `printStatefulSet`, `printDaemonSet` and
`printJob` (`pkg/printers/internalversion/printers.go`, v1.32); the other kinds' rows and
the helpers they share are in `tracewatch.sim.printers`.
"""

from __future__ import annotations

from tracewatch.sim.printers import (
    Cells,
    Obj,
    condition_true,
    format_labels,
    format_selector,
    human_duration,
    instant_ns,
    layout_containers,
    meta_of,
    since,
)
from tracewatch.sim.selectors import selector_string


def deployment_cells(obj: Obj, now_ns: int) -> Cells:
    """`printDeployment`: READY ready/desired, UP-TO-DATE, AVAILABLE; wide: template, selector."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    names, images = layout_containers(spec.get("template") or {})
    return [
        meta.get("name", ""),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        since(meta.get("creationTimestamp"), now_ns),
        names,
        images,
        selector_string(spec.get("selector")),
    ]


def replicaset_cells(obj: Obj, now_ns: int) -> Cells:
    """`printReplicaSet`: DESIRED, CURRENT, READY; wide: template and selector."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    names, images = layout_containers(spec.get("template") or {})
    return [
        meta.get("name", ""),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        since(meta.get("creationTimestamp"), now_ns),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def statefulset_cells(obj: Obj, now_ns: int) -> Cells:
    """`printStatefulSet`: READY ready/desired; wide: template."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    names, images = layout_containers(spec.get("template") or {})
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"
    return [
        meta.get("name", ""),
        ready,
        since(meta.get("creationTimestamp"), now_ns),
        names,
        images,
    ]


def daemonset_cells(obj: Obj, now_ns: int) -> Cells:
    """`printDaemonSet`: DESIRED, CURRENT, READY, UP-TO-DATE, AVAILABLE, NODE SELECTOR."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    template = spec.get("template") or {}
    names, images = layout_containers(template)
    counts = (
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberAvailable",
    )
    return [
        meta.get("name", ""),
        *(status.get(c, 0) for c in counts),
        format_labels((template.get("spec") or {}).get("nodeSelector")),
        since(meta.get("creationTimestamp"), now_ns),
        names,
        images,
        format_selector(spec.get("selector")),
    ]


def job_cells(obj: Obj, now_ns: int) -> Cells:
    """`printJob`: STATUS, COMPLETIONS, DURATION; wide: template and selector."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, meta_of(obj)
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    started, done = instant_ns(status.get("startTime")), instant_ns(status.get("completionTime"))
    if started is None:
        duration = ""
    else:
        duration = human_duration((done if done is not None else now_ns) - started)
    conditions = status.get("conditions")
    if condition_true(conditions, "Complete"):
        state = "Complete"
    elif condition_true(conditions, "Failed"):
        state = "Failed"
    elif meta.get("deletionTimestamp"):
        state = "Terminating"
    elif condition_true(conditions, "Suspended"):
        state = "Suspended"
    elif condition_true(conditions, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = layout_containers(spec.get("template") or {})
    return [
        meta.get("name", ""),
        state,
        completions,
        duration,
        since(meta.get("creationTimestamp"), now_ns),
        names,
        images,
        format_selector(spec.get("selector")),
    ]
