"""A deterministic capture of a busy cluster: Deployments rolling out across many namespaces.

Writes what `tracewatch record` writes, one line per observation:
`{"observedAt": "<RFC 3339 ns>", "type": "ADDED|MODIFIED|DELETED", "object": {...}}`,
with objects shaped and sized like a real API server's (pods of 4-8 KB with
managedFields/fieldsV1, projected service-account volumes, probes, env;
kubelet legacy Events named `<pod>.<hex UnixNano>`; scheduler Events with
`eventTime`; ReplicaSet and Deployment status updates with conditions).

Each Deployment is created (generation 1: a ReplicaSet and `replicas` pods
start), then rolled out to a new image (generation 2: a second ReplicaSet
scales up, the old one scales to 0 and its pods are deleted gracefully:
deletionTimestamp, Killing, terminated, DELETED). So every Deployment yields
2 x replicas pod lifecycles. Deployments start `stagger_s` apart in virtual
time, spread over the namespaces; lines come out in observedAt order.

    python bench/capture_gen.py --output capture.jsonl [--small]   # then: tracewatch replay
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SECOND = 1_000_000_000
MS = 1_000_000
T0 = 1_714_557_600 * SECOND  # 2024-05-01T10:00:00Z


@dataclass(frozen=True, slots=True, kw_only=True)
class CaptureShape:
    """How big a capture is. Full: 200 namespaces x 5 Deployments x 10 replicas x 2 revisions
    = 20,000 pod lifecycles."""

    namespaces: int = 200
    deployments_per_namespace: int = 5
    replicas: int = 10
    stagger_s: float = 0.1
    """Virtual seconds between Deployment creations: 10 Deployments/s, ~200 pod starts/s."""
    seed: int = 7

    @property
    def pod_lifecycles(self) -> int:
        return self.namespaces * self.deployments_per_namespace * self.replicas * 2


FULL = CaptureShape()
SMALL = CaptureShape(namespaces=20, deployments_per_namespace=1, replicas=5)


def rfc3339(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns // SECOND))


def rfc3339_micro(ns: int) -> str:
    secs, frac = divmod(ns, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac // 1000:06d}Z"


def rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, SECOND)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _uid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _suffix(rng: random.Random, n: int = 5) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))


def _fields(value: Any) -> Any:
    """A fieldsV1 set mirroring a value, as the API server's managedFields hold them."""
    if isinstance(value, dict):
        return {f"f:{k}": _fields(v) for k, v in value.items()}
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if isinstance(item, dict) and "name" in item:
                out[f'k:{{"name":"{item["name"]}"}}'] = {".": {}, **_fields(item)}
        return out
    return {}


def _managed(manager: str, at_ns: int, fields: Any, *, subresource: str = "",
             api_version: str = "v1") -> dict[str, Any]:
    entry = {"manager": manager, "operation": "Update", "apiVersion": api_version,
             "time": rfc3339(at_ns), "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _container(name: str, image: str, port: int) -> dict[str, Any]:
    return {
        "name": name, "image": image,
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "GOMAXPROCS", "value": "2"},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                "fieldPath": "metadata.name"}}},
                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}}],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"},
                      "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": True},
                         {"name": "kube-api-access", "readOnly": True,
                          "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"},
                          "initialDelaySeconds": 10, "timeoutSeconds": 1, "periodSeconds": 10,
                          "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"},
                           "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1,
                           "failureThreshold": 3},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent",
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }


def _pod_spec(app: str, image: str, sa_suffix: str) -> dict[str, Any]:
    return {
        "volumes": [
            {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}},
            {"name": "kube-api-access", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
                    "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}],
                "defaultMode": 420}, "_sfx": sa_suffix},
        ],
        "containers": [_container(app, image, 8080)],
        "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
        "serviceAccount": "default", "securityContext": {"fsGroup": 2000},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}],
        "priority": 0, "enableServiceLinks": True, "preemptionPolicy": "PreemptLowerPriority",
    }


def _cond(type_: str, status: str, at_ns: int, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "status": status, "lastProbeTime": None,
            "lastTransitionTime": rfc3339(at_ns), **extra}


class _Emitter:
    """Collects (observedAt, line) pairs of one Deployment's story."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.out: list[tuple[int, int, bytes]] = []
        self.rv = 0
        self.quiet = False
        """True: count writes, keep no lines (steady_state only wants final objects)."""

    def emit(self, at_ns: int, type_: str, obj: dict[str, Any]) -> None:
        self.rv += 1
        if self.quiet:
            return
        observed = at_ns + self.rng.randrange(1 * MS, 15 * MS)
        line = orjson.dumps({"observedAt": rfc3339_nano(observed), "type": type_, "object": obj})
        self.out.append((observed, len(self.out), line))

    def legacy_event(self, at_ns: int, *, ns: str, pod: dict[str, Any], reason: str,
                     message: str, node: str, container: str | None = None,
                     component: str = "kubelet", kind: str = "Pod") -> None:
        meta = pod["metadata"]
        name = f"{meta['name']}.{at_ns:x}"
        ref: dict[str, Any] = {"kind": kind, "namespace": ns, "name": meta["name"],
                               "uid": meta["uid"], "apiVersion": pod.get("apiVersion", "v1"),
                               "resourceVersion": meta.get("resourceVersion", "")}
        if container:
            ref["fieldPath"] = f"spec.containers{{{container}}}"
        self.emit(at_ns, "ADDED", {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": ns, "uid": _uid(self.rng),
                         "resourceVersion": str(self.rv), "creationTimestamp": rfc3339(at_ns),
                         "managedFields": [_managed(component, at_ns, {
                             "f:count": {}, "f:firstTimestamp": {}, "f:involvedObject": {},
                             "f:lastTimestamp": {}, "f:message": {}, "f:reason": {},
                             "f:reportingComponent": {}, "f:reportingInstance": {},
                             "f:source": {"f:component": {}, "f:host": {}},
                             "f:type": {}})]},
            "involvedObject": ref, "reason": reason, "message": message,
            "source": {"component": component, **({"host": node} if node else {})},
            "firstTimestamp": rfc3339(at_ns), "lastTimestamp": rfc3339(at_ns), "count": 1,
            "type": "Normal", "eventTime": None, "reportingComponent": component,
            "reportingInstance": node,
        })

    def scheduled_event(self, at_ns: int, *, ns: str, pod: dict[str, Any], node: str) -> None:
        meta = pod["metadata"]
        self.emit(at_ns, "ADDED", {
            "kind": "Event", "apiVersion": "v1",
            "metadata": {"name": f"{meta['name']}.{at_ns:x}", "namespace": ns,
                         "uid": _uid(self.rng), "resourceVersion": str(self.rv),
                         "creationTimestamp": rfc3339(at_ns),
                         "managedFields": [_managed("kube-scheduler", at_ns, {
                             "f:action": {}, "f:eventTime": {}, "f:note": {}, "f:reason": {},
                             "f:regarding": {}, "f:reportingController": {},
                             "f:reportingInstance": {}, "f:type": {}},
                             api_version="events.k8s.io/v1")]},
            "involvedObject": {"kind": "Pod", "namespace": ns, "name": meta["name"],
                               "uid": meta["uid"], "apiVersion": "v1",
                               "resourceVersion": meta["resourceVersion"]},
            "reason": "Scheduled",
            "message": f"Successfully assigned {ns}/{meta['name']} to {node}",
            "source": {}, "firstTimestamp": None, "lastTimestamp": None,
            "type": "Normal", "eventTime": rfc3339_micro(at_ns), "action": "Binding",
            "reportingComponent": "default-scheduler",
            "reportingInstance": "default-scheduler-control-plane-1",
        })


class _DeploymentStory:
    """One Deployment: created, rolled out once; every object write as a line."""

    def __init__(self, *, rng: random.Random, ns: str, name: str, replicas: int,
                 start_ns: int, emitter: _Emitter) -> None:
        self.rng, self.ns, self.name, self.replicas = rng, ns, name, replicas
        self.e = emitter
        self.uid = _uid(rng)
        self.start_ns = start_ns
        self.created_ns = start_ns
        self.generation = 0
        self.managed: list[dict[str, Any]] = []

    def _meta(self, name: str, uid: str, created_ns: int, **extra: Any) -> dict[str, Any]:
        return {"name": name, "namespace": self.ns, "uid": uid,
                "resourceVersion": str(self.e.rv + 1), "creationTimestamp": rfc3339(created_ns),
                **extra}

    def deployment(self, at_ns: int, status: dict[str, Any]) -> dict[str, Any]:
        labels = {"app": self.name, "team": "payments", "tier": "backend"}
        spec = {"replicas": self.replicas, "selector": {"matchLabels": {"app": self.name}},
                "template": {"metadata": {"labels": {"app": self.name}},
                             "spec": {"containers": [{"name": self.name,
                                                       "image": self.image}]}},
                "strategy": {"type": "RollingUpdate",
                             "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
        meta = self._meta(self.name, self.uid, self.created_ns, generation=self.generation,
                          labels=labels,
                          annotations={"deployment.kubernetes.io/revision": str(self.generation)},
                          managedFields=self.managed)
        return {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": meta, "spec": spec,
                "status": status}

    def replicaset(self, rs: dict[str, Any], at_ns: int) -> dict[str, Any]:
        meta = self._meta(rs["name"], rs["uid"], rs["created"], generation=rs["generation"],
                          labels={"app": self.name, "pod-template-hash": rs["hash"]},
                          annotations={"deployment.kubernetes.io/desired-replicas":
                                       str(self.replicas),
                                       "deployment.kubernetes.io/max-replicas":
                                       str(self.replicas + 3),
                                       "deployment.kubernetes.io/revision": str(rs["revision"])},
                          ownerReferences=[{"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": self.name, "uid": self.uid,
                                            "controller": True,
                                            "blockOwnerDeletion": True}],
                          managedFields=rs["managed"])
        spec = {"replicas": rs["replicas"],
                "selector": {"matchLabels": {"app": self.name,
                                             "pod-template-hash": rs["hash"]}},
                "template": {"metadata": {"labels": {"app": self.name,
                                                     "pod-template-hash": rs["hash"]}},
                             "spec": {"containers": [{"name": self.name,
                                                       "image": rs["image"]}]}}}
        status = {"replicas": rs["have"], "fullyLabeledReplicas": rs["have"],
                  "readyReplicas": rs["ready"], "availableReplicas": rs["ready"],
                  "observedGeneration": rs["generation"]}
        return {"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": meta, "spec": spec,
                "status": status}

    def run(self) -> None:
        rng, e = self.rng, self.e
        t = self.start_ns
        self.image = f"registry.example.com/{self.ns}/{self.name}:1.{rng.randrange(10)}.0"
        self.generation = 1
        self.managed = [_managed("kubectl-client-side-apply", t, {"f:spec": {}},
                                 api_version="apps/v1")]
        e.emit(t, "ADDED", self.deployment(t, {}))
        t, old_rs, old_pods = self._revision(t, revision=1, old=None)
        # Rollout: a new image, generation 2.
        t += rng.randrange(1 * SECOND, 3 * SECOND)
        self.generation = 2
        self.image = self.image.replace(":1.", ":2.")
        self.managed = [_managed("kubectl-client-side-apply", t, {"f:spec": {}},
                                 api_version="apps/v1"),
                        _managed("kube-controller-manager", t, {"f:status": {}},
                                 subresource="status", api_version="apps/v1")]
        e.emit(t, "MODIFIED", self.deployment(t, {"observedGeneration": 1,
                                                  "replicas": self.replicas,
                                                  "readyReplicas": self.replicas,
                                                  "availableReplicas": self.replicas,
                                                  "updatedReplicas": self.replicas}))
        self._revision(t, revision=2, old=(old_rs, old_pods))

    def _revision(self, t: int, *, revision: int,
                  old: tuple[dict[str, Any], list[dict[str, Any]]] | None) -> Any:
        rng, e, n = self.rng, self.e, self.replicas
        t += rng.randrange(5 * MS, 30 * MS)
        rs = {"name": f"{self.name}-{_suffix(rng, 10)}", "uid": _uid(rng), "created": t,
              "generation": 1, "replicas": n, "have": 0, "ready": 0, "image": self.image,
              "revision": revision, "hash": _suffix(rng, 10),
              "managed": [_managed("kube-controller-manager", t, {"f:spec": {}},
                                   api_version="apps/v1")]}
        e.emit(t, "ADDED", self.replicaset(rs, t))
        status = {"observedGeneration": self.generation, "replicas": n, "updatedReplicas": 0,
                  "readyReplicas": 0 if old is None else n, "availableReplicas": 0,
                  "unavailableReplicas": n,
                  "conditions": [_cond("Progressing", "True", t, reason="ReplicaSetUpdated",
                                       lastUpdateTime=rfc3339(t),
                                       message=f'ReplicaSet "{rs["name"]}" is progressing.')]}
        e.emit(t + 2 * MS, "MODIFIED", self.deployment(t, status))
        ready_times = []
        pods = []
        for i in range(n):
            created = t + rng.randrange(5 * MS, 40 * MS) + i * MS
            pod, ready = self._pod_startup(rs, created)
            pods.append(pod)
            ready_times.append(ready)
            self.e.legacy_event(created, ns=self.ns, pod=self._as_owner(rs), kind="ReplicaSet",
                                reason="SuccessfulCreate", message=f"Created pod: {pod['n']}",
                                node="", component="replicaset-controller")
        rs["have"] = n
        e.emit(t + 45 * MS + n * MS, "MODIFIED", self.replicaset(rs, t))
        for k, ready in enumerate(sorted(ready_times), start=1):
            rs["ready"] = k
            e.emit(ready + 3 * MS, "MODIFIED", self.replicaset(rs, ready))
        done = max(ready_times) + 10 * MS
        if old is not None:
            old_rs, old_pods = old
            old_rs["replicas"], old_rs["generation"] = 0, old_rs["generation"] + 1
            old_rs["managed"] = [_managed("kube-controller-manager", done, {"f:spec": {}},
                                          api_version="apps/v1")]
            e.emit(done, "MODIFIED", self.replicaset(old_rs, done))
            gone = [self._pod_delete(old_rs, p, done + rng.randrange(2 * MS, 20 * MS))
                    for p in old_pods]
            old_rs["have"] = old_rs["ready"] = 0
            done = max(gone) + 5 * MS
            e.emit(done, "MODIFIED", self.replicaset(old_rs, done))
        e.emit(done + 5 * MS, "MODIFIED", self.deployment(done, {
            "observedGeneration": self.generation, "replicas": n, "updatedReplicas": n,
            "readyReplicas": n, "availableReplicas": n,
            "conditions": [
                _cond("Available", "True", done, reason="MinimumReplicasAvailable",
                      lastUpdateTime=rfc3339(done),
                      message="Deployment has minimum availability."),
                _cond("Progressing", "True", t, reason="NewReplicaSetAvailable",
                      lastUpdateTime=rfc3339(done),
                      message=f'ReplicaSet "{rs["name"]}" has successfully progressed.')]}))
        return done, rs, pods

    def _as_owner(self, rs: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "apps/v1", "metadata": {"name": rs["name"], "uid": rs["uid"],
                                                      "resourceVersion": str(self.e.rv)}}

    def _pod_object(self, p: dict[str, Any], status: dict[str, Any],
                    **meta_extra: Any) -> dict[str, Any]:
        # ObjectMeta's order, as the API server writes it: deletion fields before labels,
        # managedFields last.
        meta = self._meta(p["n"], p["uid"], p["created"], generateName=p["rs"]["name"] + "-",
                          **meta_extra,
                          labels={"app": self.name, "pod-template-hash": p["rs"]["hash"],
                                  "team": "payments", "tier": "backend"},
                          annotations={"prometheus.io/scrape": "true",
                                       "prometheus.io/port": "8080"},
                          ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                            "name": p["rs"]["name"], "uid": p["rs"]["uid"],
                                            "controller": True, "blockOwnerDeletion": True}],
                          managedFields=p["managed"])
        spec = dict(p["spec"])
        if p.get("node"):
            spec["nodeName"] = p["node"]
        return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
                "status": status}

    def _pod_startup(self, rs: dict[str, Any], created: int) -> tuple[dict[str, Any], int]:
        rng, e = self.rng, self.e
        name = f"{rs['name']}-{_suffix(rng)}"
        spec = _pod_spec(self.name, rs["image"], _suffix(rng))
        spec["volumes"][1].pop("_sfx")
        spec["volumes"][1]["name"] = f"kube-api-access-{_suffix(rng)}"
        p: dict[str, Any] = {"n": name, "uid": _uid(rng), "created": created, "rs": rs,
                             "spec": spec, "node": ""}
        p["managed"] = [_managed("kube-controller-manager", created,
                                 {"f:metadata": _fields({"generateName": 1, "labels": {
                                     "app": 1, "pod-template-hash": 1}, "ownerReferences": 1}),
                                  "f:spec": _fields(spec)})]
        e.emit(created, "ADDED", self._pod_object(p, {"phase": "Pending", "qosClass": "Burstable"}))
        node = f"node-{rng.randrange(1, 401):03d}"
        sched = created + rng.randrange(5 * MS, 150 * MS)
        p["node"] = node
        p["managed"] = [*p["managed"], _managed("kube-scheduler", sched, {"f:status": {
            "f:conditions": {'k:{"type":"PodScheduled"}': {".": {}, "f:type": {}}}}},
            subresource="status")]
        conds = [_cond("PodScheduled", "True", sched)]
        e.emit(sched, "MODIFIED", self._pod_object(
            p, {"phase": "Pending", "conditions": conds, "qosClass": "Burstable"}))
        pod_ref = self._pod_object(p, {})
        e.scheduled_event(sched, ns=self.ns, pod=pod_ref, node=node)
        init = sched + rng.randrange(5 * MS, 20 * MS)
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(2, 250)}"
        host_ip = f"192.168.{rng.randrange(256)}.{rng.randrange(2, 250)}"
        p["managed"] = [*p["managed"], _managed("kubelet", init, {"f:status": _fields({
            "conditions": [{"name": c} for c in ("Initialized", "Ready", "ContainersReady")],
            "containerStatuses": 1, "hostIP": 1, "hostIPs": 1, "podIP": 1, "podIPs": 1,
            "startTime": 1, "phase": 1})}, subresource="status")]
        image = rs["image"]
        waiting = {"name": self.name, "image": image, "imageID": "", "ready": False,
                   "started": False, "restartCount": 0,
                   "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
        base = {"hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": rfc3339(init),
                "qosClass": "Burstable"}
        conds = [_cond("PodReadyToStartContainers", "False", init),
                 _cond("Initialized", "True", init),
                 _cond("Ready", "False", init, reason="ContainersNotReady",
                       message=f"containers with unready status: [{self.name}]"),
                 _cond("ContainersReady", "False", init, reason="ContainersNotReady",
                       message=f"containers with unready status: [{self.name}]"),
                 _cond("PodScheduled", "True", sched)]
        e.emit(init, "MODIFIED", self._pod_object(
            p, {"phase": "Pending", "conditions": conds, "containerStatuses": [waiting], **base}))
        sandbox = init + rng.randrange(100 * MS, 300 * MS)
        cached = rng.random() < 0.3
        c = self.name
        if cached:
            pulled = sandbox + rng.randrange(1 * MS, 5 * MS)
            e.legacy_event(pulled, ns=self.ns, pod=pod_ref, node=node, container=c,
                           reason="Pulled",
                           message=f'Container image "{image}" already present on machine')
        else:
            e.legacy_event(sandbox, ns=self.ns, pod=pod_ref, node=node, container=c,
                           reason="Pulling", message=f'Pulling image "{image}"')
            took = rng.randrange(300 * MS, 2500 * MS)
            pulled = sandbox + took
            e.legacy_event(pulled, ns=self.ns, pod=pod_ref, node=node, container=c,
                           reason="Pulled",
                           message=f'Successfully pulled image "{image}" in {took / SECOND:.3f}s '
                                   f"({took / SECOND:.3f}s including waiting). "
                                   "Image size: 48213117 bytes.")
        created_c = pulled + rng.randrange(5 * MS, 20 * MS)
        e.legacy_event(created_c, ns=self.ns, pod=pod_ref, node=node, container=c,
                       reason="Created", message=f"Created container {c}")
        started = created_c + rng.randrange(50 * MS, 150 * MS)
        e.legacy_event(started, ns=self.ns, pod=pod_ref, node=node, container=c,
                       reason="Started", message=f"Started container {c}")
        digest = f"{image.split(':')[0]}@sha256:{rng.getrandbits(256):064x}"
        running = {**waiting, "imageID": digest,
                   "containerID": f"containerd://{rng.getrandbits(256):064x}", "started": True,
                   "state": {"running": {"startedAt": rfc3339(started)}}}
        base.update(podIP=ip, podIPs=[{"ip": ip}])
        conds[0] = _cond("PodReadyToStartContainers", "True", sandbox)
        e.emit(started + 3 * MS, "MODIFIED", self._pod_object(
            p, {"phase": "Running", "conditions": conds, "containerStatuses": [running], **base}))
        ready = started + rng.randrange(200 * MS, 1500 * MS)
        conds = [conds[0], conds[1], _cond("Ready", "True", ready),
                 _cond("ContainersReady", "True", ready), conds[4]]
        running = {**running, "ready": True}
        status = {"phase": "Running", "conditions": conds, "containerStatuses": [running], **base}
        e.emit(ready, "MODIFIED", self._pod_object(p, status))
        p["status"], p["ref"] = status, pod_ref
        return p, ready

    def _pod_delete(self, rs: dict[str, Any], p: dict[str, Any], at: int) -> int:
        rng, e = self.rng, self.e
        grace = 30
        extra = {"deletionTimestamp": rfc3339(at + grace * SECOND),
                 "deletionGracePeriodSeconds": grace}
        e.emit(at, "MODIFIED", self._pod_object(p, p["status"], **extra))
        kill = at + rng.randrange(2 * MS, 20 * MS)
        e.legacy_event(kill, ns=self.ns, pod=p["ref"], node=p["node"], container=self.name,
                       reason="Killing", message=f"Stopping container {self.name}")
        e.legacy_event(at + MS, ns=self.ns, pod=self._as_owner(rs), kind="ReplicaSet",
                       reason="SuccessfulDelete", message=f"Deleted pod: {p['n']}",
                       node="", component="replicaset-controller")
        done = kill + rng.randrange(100 * MS, 800 * MS)
        st = p["status"]
        cs = dict(st["containerStatuses"][0])
        cs.update(ready=False, started=False, state={"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt":
            cs["state"]["running"]["startedAt"], "finishedAt": rfc3339(done),
            "containerID": cs["containerID"]}})
        final = {**st, "phase": "Succeeded", "containerStatuses": [cs]}
        e.emit(done, "MODIFIED", self._pod_object(p, final, **extra))
        gone = done + rng.randrange(5 * MS, 30 * MS)
        e.emit(gone, "DELETED", self._pod_object(p, final, **extra))
        return gone


def generate(shape: CaptureShape = FULL) -> Iterator[bytes]:
    """Every line of the capture, in observedAt order (deterministic for a given shape)."""
    rng = random.Random(shape.seed)
    total = shape.namespaces * shape.deployments_per_namespace
    heap: list[tuple[int, int, bytes]] = []
    seq = 0
    emitter = _Emitter(rng)
    for d in range(total):
        start = T0 + int(d * shape.stagger_s * SECOND)
        # Everything observed before this Deployment began is final: stories only add later lines.
        while heap and heap[0][0] < start:
            yield heapq.heappop(heap)[2]
        ns = f"team-{d % shape.namespaces:03d}"
        name = f"svc-{d // shape.namespaces}"
        emitter.out = []
        _DeploymentStory(rng=rng, ns=ns, name=name, replicas=shape.replicas, start_ns=start,
                         emitter=emitter).run()
        for observed, _, line in emitter.out:
            seq += 1
            heapq.heappush(heap, (observed, seq, line))
    while heap:
        yield heapq.heappop(heap)[2]


def steady_state(*, pods: int, per_replicaset: int = 10, namespaces: int = 200,
                 seed: int = 11) -> Iterator[tuple[str, dict[str, Any]]]:
    """("pods" | "replicasets", object) for `pods` Running, Ready pods created long ago
    (the same shapes and sizes as the capture's) and the ReplicaSets that own them."""
    rng = random.Random(seed)
    emitter = _Emitter(rng)
    emitter.quiet = True
    for r in range(-(-pods // per_replicaset)):
        ns = f"team-{r % namespaces:03d}"
        story = _DeploymentStory(rng=rng, ns=ns, name=f"svc-{r // namespaces}",
                                 replicas=per_replicaset, start_ns=T0, emitter=emitter)
        story.image = f"registry.example.com/{ns}/{story.name}:1.{rng.randrange(10)}.0"
        story.generation = 1
        count = min(per_replicaset, pods - r * per_replicaset)
        rs = {"name": f"{story.name}-{_suffix(rng, 10)}", "uid": _uid(rng), "created": T0,
              "generation": 1, "replicas": count, "have": count, "ready": count,
              "image": story.image, "revision": 1, "hash": _suffix(rng, 10),
              "managed": [_managed("kube-controller-manager", T0, {"f:spec": {}},
                                   api_version="apps/v1")]}
        yield "replicasets", story.replicaset(rs, T0)
        for i in range(count):
            pod, _ = story._pod_startup(rs, T0 + i * MS)
            yield "pods", story._pod_object(pod, pod["status"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="capture file to write ('-': stdout)")
    parser.add_argument("--small", action="store_true", help="a few hundred pods, not 20,000")
    args = parser.parse_args(argv)
    shape = SMALL if args.small else FULL
    out = sys.stdout.buffer if args.output == "-" else Path(args.output).open("wb")  # noqa: SIM115
    try:
        for line in generate(shape):
            out.write(line + b"\n")
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
