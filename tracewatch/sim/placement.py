"""The scheduler's filters and failure path: which nodes fit a pod, what it writes when none do.

Filters simulated (each with the real plugin's failure text, counted per node):
NodeAffinity (`nodeSelector` and required node affinity, including the
`metadata.name` matchFields the DaemonSet controller writes: "node(s) didn't
match Pod's node affinity/selector"), NodeResourcesFit (cpu/memory requests
against allocatable minus what bound pods request: "Insufficient cpu"), and
VolumeBinding (a claim that is missing, or unbound with an Immediate class:
"pod has unbound immediate PersistentVolumeClaims"; unbound claims of a
WaitForFirstConsumer class are fine and handed to the PV controller once a node is
chosen, through the `volume.kubernetes.io/selected-node` annotation).

When no node fits, the scheduler writes PodScheduled=False reason
Unschedulable with the message, and a Warning `FailedScheduling` event
(events.k8s.io recorder, action `Scheduling`); repeats of the same message
grow the event's `series` instead of adding events.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tracewatch.sim.events import EventRecorder, Ref
from tracewatch.sim.registry import Registry
from tracewatch.sim.storageclasses import StorageClass, class_for
from tracewatch.sim.store import Stored
from tracewatch.sim.timestamps import micro_time, now_ns

SELECTED_NODE = "volume.kubernetes.io/selected-node"
_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}
_QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")


def quantity(value: Any, *, cpu: bool = False) -> float:
    """A resource.Quantity as a number (cpu in cores, `500m` = 0.5; memory in bytes)."""
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return 0.0
    number, unit = float(match.group(1)), match.group(2)
    if unit == "m":
        return number / 1000
    return number * _UNITS.get(unit, 1) if not cpu or unit else number


@dataclass(slots=True)
class Verdict:
    """The outcome of filtering: feasible nodes, or why none, and the claims involved."""

    nodes: list[str] = field(default_factory=list)
    message: str = ""
    unbound_immediate: list[str] = field(default_factory=list)
    """uids of Immediate claims not bound yet (retry once they are)."""
    delayed: list[tuple[str, str]] = field(default_factory=list)
    """(namespace, name) of unbound WaitForFirstConsumer claims (bind after choosing a node)."""


def _requests(pod: dict[str, Any]) -> tuple[float, float]:
    cpu = mem = 0.0
    for c in (pod.get("spec") or {}).get("containers") or ():
        requests = (c.get("resources") or {}).get("requests")
        if requests:
            cpu += quantity(requests.get("cpu", 0), cpu=True)
            mem += quantity(requests.get("memory", 0))
    return cpu, mem


def _term_matches(term: dict[str, Any], node: dict[str, Any]) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expr in term.get("matchFields") or ():
        if expr.get("key") == "metadata.name":
            inside = node["metadata"]["name"] in (expr.get("values") or ())
            if inside != (expr.get("operator") == "In"):
                return False
    for expr in term.get("matchExpressions") or ():
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or ()
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def _affinity_ok(pod: dict[str, Any], node: dict[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or ()
    return not terms or any(_term_matches(t, node) for t in terms)


def _constrained(pod: dict[str, Any]) -> bool:
    """Whether the pod has a node selector or required node affinity (else every node passes)."""
    spec = pod.get("spec") or {}
    return bool(spec.get("nodeSelector") or (spec.get("affinity") or {}).get("nodeAffinity"))


class _Node:
    """What filtering reads of one node version: the decoded node and its allocatable."""

    __slots__ = ("cpu", "memory", "obj", "rv")

    def __init__(self, stored: Stored) -> None:
        self.rv = stored.rv
        self.obj = stored.obj
        allocatable = (self.obj.get("status") or {}).get("allocatable") or {}
        self.cpu = quantity(allocatable.get("cpu", 0), cpu=True)
        self.memory = quantity(allocatable.get("memory", 0))


class PlacementCache:
    """Decoded nodes by name and pods' requests by uid, each kept while its resourceVersion holds.

    Filtering reads every node (and, for pods with requests, every bound pod) for
    every pod; decoding them each time was most of a busy scheduler's work. The
    node dicts are shared: read them, never mutate them.
    """

    def __init__(self) -> None:
        self._nodes: dict[str, _Node] = {}
        self._usage: dict[str, tuple[int, str, float, float]] = {}

    def node(self, name: str, stored: Stored) -> _Node:
        known = self._nodes.get(name)
        if known is None or known.rv != stored.rv:
            known = self._nodes[name] = _Node(stored)
        return known

    def usage(self, stored: Stored) -> tuple[str, float, float]:
        """The node a pod holds resources on ("" if none: unbound or finished), and its
        summed cpu and memory requests."""
        known = self._usage.get(stored.uid)
        if known is None or known[0] != stored.rv:
            pod = stored.obj
            node_name = (pod.get("spec") or {}).get("nodeName") or ""
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                node_name = ""
            known = self._usage[stored.uid] = (stored.rv, node_name, *_requests(pod))
        return known[1], known[2], known[3]

    def forget_pod(self, uid: str) -> None:
        self._usage.pop(uid, None)


def evaluate(
    *,
    registry: Registry,
    pod: dict[str, Any],
    nodes: tuple[str, ...],
    classes: tuple[StorageClass, ...],
    cache: PlacementCache | None = None,
) -> Verdict:
    """Filter `nodes` for `pod` (see the module docstring); `cache` keeps decoded nodes."""
    store = registry.store
    cache = cache or PlacementCache()
    verdict = Verdict()
    namespace = pod["metadata"]["namespace"]
    total = len(nodes)
    preemption = (
        f"preemption: 0/{total} nodes are available: {total} Preemption is not helpful for "
        "scheduling."
    )
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim:
            continue
        stored = store.get("persistentvolumeclaims", (namespace, claim))
        if stored is None:
            verdict.message = (
                f'0/{total} nodes are available: persistentvolumeclaim "{claim}" not found. '
                + preemption
            )
            return verdict
        pvc = stored.obj
        if (pvc.get("status") or {}).get("phase") == "Bound":
            continue
        sc = class_for(classes, (pvc.get("spec") or {}).get("storageClassName"))
        if sc is not None and not sc.immediate:
            verdict.delayed.append((namespace, claim))
        else:
            verdict.unbound_immediate.append(stored.uid)
    if verdict.unbound_immediate:
        verdict.message = (
            f"0/{total} nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            + preemption
        )
        return verdict
    cpu, mem = _requests(pod)
    used: dict[str, tuple[float, float]] = {}
    if cpu or mem:
        for other in store.items("pods"):
            node_name, c, m = cache.usage(other)
            if node_name:
                u = used.get(node_name, (0.0, 0.0))
                used[node_name] = (u[0] + c, u[1] + m)
    constrained = _constrained(pod)
    if not constrained and not (cpu or mem):
        # Nothing to filter on: every node there fits (the common, unconstrained pod).
        verdict.nodes = [n for n in nodes if store.get("nodes", ("", n)) is not None]
        if verdict.nodes:
            return verdict
    failures: Counter[str] = Counter()
    for name in nodes:
        node_stored = store.get("nodes", ("", name))
        if node_stored is None:
            continue
        node = cache.node(name, node_stored)
        if constrained and not _affinity_ok(pod, node.obj):
            failures[_AFFINITY] += 1
            continue
        u = used.get(name, (0.0, 0.0))
        short = [
            f"Insufficient {resource}"
            for resource, want, have in (
                ("cpu", cpu + u[0], node.cpu),
                ("memory", mem + u[1], node.memory),
            )
            if want and want > have
        ]
        if short:
            failures.update(short)
            continue
        verdict.nodes.append(name)
    if not verdict.nodes:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(failures.items()))
        if any(r.startswith("Insufficient") for r in failures):
            preemption = (
                f"preemption: 0/{total} nodes are available: {total} No preemption victims "
                "found for incoming pod."
            )
        verdict.message = f"0/{total} nodes are available: {reasons}. {preemption}"
    return verdict


class FailureWriter:
    """Writes the scheduler's failures; remembers its FailedScheduling events to grow `series`."""

    def __init__(
        self, *, registry: Registry, recorder: EventRecorder, component: str, instance: str
    ) -> None:
        self._registry = registry
        self._recorder = recorder
        self._component = component
        self._instance = instance
        self._events: dict[tuple[str, str], str] = {}

    def forget(self, uid: str) -> None:
        """The pod is gone: drop its remembered events."""
        for key in [k for k in self._events if k[0] == uid]:
            del self._events[key]

    def unschedulable(self, *, stored: Stored, message: str, set_condition: Any) -> None:
        """PodScheduled=False Unschedulable (if the message changed) and a FailedScheduling."""
        registry = self._registry
        pod = stored.obj
        meta = pod["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        at = now_ns()
        current = next(
            (
                c
                for c in (pod.get("status") or {}).get("conditions") or ()
                if c.get("type") == "PodScheduled"
            ),
            None,
        )
        if current is None or current.get("message") != message:

            def mark(obj: dict[str, Any]) -> None:
                set_condition(
                    obj.setdefault("status", {}),
                    type_="PodScheduled",
                    value="False",
                    at_ns=at,
                    reason="Unschedulable",
                    message=message,
                )

            registry.update(
                "pods",
                namespace=namespace,
                name=name,
                mutate=mark,
                manager=self._component,
                at_ns=at,
                subresource="status",
                uid=meta["uid"],
            )
        registry.truth.record(meta["uid"], "unschedulable", at)
        known = self._events.get((meta["uid"], message))
        if known is not None:

            def again(obj: dict[str, Any]) -> None:
                series = obj.get("series") or {"count": 1}
                obj["series"] = {
                    "count": int(series.get("count", 1)) + 1,
                    "lastObservedTime": micro_time(at),
                }

            if (
                registry.update(
                    "events",
                    namespace=namespace,
                    name=known,
                    mutate=again,
                    manager=self._component,
                    at_ns=at,
                )
                is not None
            ):
                return
        event = self._recorder.structured(
            about=Ref.of(stored, namespace=namespace, name=name),
            at_ns=at,
            reason="FailedScheduling",
            action="Scheduling",
            message=message,
            component=self._component,
            instance=self._instance,
            type_="Warning",
        )
        self._events[(meta["uid"], message)] = event.obj["metadata"]["name"]
