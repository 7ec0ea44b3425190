"""What the real API server and its admission plugins add to objects, and the built-in objects.

Pods get the defaults and the service-account volume a real cluster gives
them (so they have the size and shape tracewatch meets in production);
namespaces and nodes are built the way their controllers would leave them.
"""

from __future__ import annotations

import random
import zlib
from operator import itemgetter
from typing import Any

import orjson

from tracewatch.sim.timestamps import rfc3339

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
"""k8s.io/apimachinery's utilrand alphabet (no vowels, no look-alikes)."""
_LIST_KEYS = ("name", "type", "containerPort", "ip", "mountPath", "key")
_ATOMIC_LISTS = frozenset(
    ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses", "hostIPs")
)
"""Lists the API schema makes atomic (no merge key): owned whole, `f:<name>: {}`, as the
real kubelet's managedFields show them."""
_SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
_POD_SPEC_ORDER = (
    "volumes",
    "initContainers",
    "containers",
    "restartPolicy",
    "terminationGracePeriodSeconds",
    "activeDeadlineSeconds",
    "dnsPolicy",
    "nodeSelector",
    "serviceAccountName",
    "serviceAccount",
    "automountServiceAccountToken",
    "nodeName",
    "hostNetwork",
    "securityContext",
    "imagePullSecrets",
    "hostname",
    "subdomain",
    "affinity",
    "schedulerName",
    "tolerations",
    "priorityClassName",
    "priority",
    "enableServiceLinks",
    "preemptionPolicy",
)


def random_suffix(rng: random.Random, *, length: int = 5) -> str:
    """The suffix generateName and the service-account volume get."""
    return "".join(rng.choice(_NAME_CHARS) for _ in range(length))


_MEMO_LIMIT = 4096
_item_keys: dict[tuple[str, type, Any], str] = {}
_flat_entries: dict[tuple[Any, ...], tuple[str, dict[str, Any]]] = {}
_flat_sets: dict[tuple[str, ...], dict[str, Any]] = {}
"""The keys of a map of scalars -> its set."""
_list_keys: dict[tuple[str, ...], str] = {}
"""The keys of a list item -> the key naming it in a set ("" if none does: an atomic list)."""
_NESTED = frozenset((dict, list))
_EMPTY: dict[str, Any] = {}
"""The set of a scalar (or empty) field; shared, as results are serialized, never mutated."""


def memo_put(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """`memo[key] = value`, returned: a memo keyed by object shapes, reset when full."""
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()  # keys come from object shapes; a flood of novel ones just resets it
    memo[key] = value
    return value


def _item_key(key: str, value: Any) -> str:
    """`k:{"<key>":<value>}` for a keyed list item (a few names, types and IPs recur)."""
    memo_key = (key, value.__class__, value)  # the class too: 1 == True, yet they encode apart
    try:
        known = _item_keys.get(memo_key)
    except TypeError:  # an unhashable key value: encode it every time
        return "k:" + orjson.dumps({key: value}).decode()
    if known is None:
        known = memo_put(_item_keys, memo_key, "k:" + orjson.dumps({key: value}).decode())
    return known


def fields_v1(value: Any) -> dict[str, Any]:
    """A FieldsV1 set mirroring `value`: `f:<field>` for maps, `k:{...}` for keyed list items.

    Runs on every status write, so keyed items of scalars (conditions, most of them)
    are looked up by their key value and keys: the result may share sub-dicts with
    earlier results. Serialize it, never mutate it.
    """
    if isinstance(value, dict):
        return _map_set(value)
    if isinstance(value, list):
        return _list_set(value)
    return {}


def _map_set(value: dict[str, Any]) -> dict[str, Any]:
    if _NESTED.isdisjoint(map(type, value.values())):
        keys = tuple(value)  # a map of scalars: its keys fix its set
        known = _flat_sets.get(keys)
        if known is None:
            known = memo_put(_flat_sets, keys, {"f:" + k: _EMPTY for k in keys})
        return known
    out: dict[str, Any] = {}
    for k, v in value.items():
        cls = v.__class__
        if cls is dict:
            out["f:" + k] = _map_set(v) if v else _EMPTY
        elif cls is list and k not in _ATOMIC_LISTS:
            out["f:" + k] = _list_set(v)
        else:
            out["f:" + k] = _EMPTY
    return out


def _naming_key(item: dict[str, Any]) -> str:
    """The key naming a list item in a set (`k:{"name":...}`), "" if none does (atomic list)."""
    return next((k for k in _LIST_KEYS if k in item), "")


def _list_set(value: list[Any]) -> dict[str, Any]:
    if not value:
        return _EMPTY
    out: dict[str, Any] = {}
    for item in value:
        if item.__class__ is not dict and not isinstance(item, dict):
            return _EMPTY
        keys = tuple(item)
        key = _list_keys.get(keys)
        if key is None:
            key = memo_put(_list_keys, keys, _naming_key(item))
        if not key:
            return _EMPTY
        kv = item[key]
        if not _NESTED.isdisjoint(map(type, item.values())):
            out[_item_key(key, kv)] = {".": _EMPTY, **_map_set(item)}
            continue
        shape = (kv.__class__, kv, keys)  # the key value and the keys fix the entry
        known = _flat_entries.get(shape)
        if known is None:
            known = (_item_key(key, kv), {".": _EMPTY, **_map_set(item)})
            if kv.__class__ in (str, int):
                memo_put(_flat_entries, shape, known)
        out[known[0]] = known[1]
    return out


condition_type = itemgetter("type")
"""A condition's `type`."""
_status_sets: dict[tuple[Any, ...], dict[str, Any]] = {}
"""A pod status' shape (see `pod_status_fields`) -> its set."""


def pod_status_fields(status: dict[str, Any]) -> dict[str, Any]:
    """`{"f:status": fields_v1(status)}` for a pod status, memoised by the shape deciding it.

    The kubelet writes a pod's status several times per start-up, in a few shapes:
    its keys, its values' types, and each condition's keys and type decide the set
    but for `podIPs` (keyed by each pod's own IPs), worked out each time. A status
    of any other shape (a map in it, another keyed list) is walked every time.
    Condition fields are scalars in the API schema (a real server rejects anything
    else), so their values are checked only when a shape is first memoised.
    """
    try:
        shape = (
            tuple(status),
            tuple(map(type, status.values())),
            _conditions_shape(status.get("conditions")),
        )
    except (KeyError, TypeError):  # not the usual shape (a condition without a type...)
        return {"f:status": fields_v1(status)}
    known = _status_sets.get(shape)
    if known is None:
        known = fields_v1(status)
        if _usual_status(status):
            memo_put(_status_sets, shape, known)
    pod_ips = status.get("podIPs")
    if pod_ips.__class__ is list:
        known = {**known, "f:podIPs": _ips_set(pod_ips)}  # the key keeps its place
    return {"f:status": known}


_IP_ITEM = {".": _EMPTY, "f:ip": _EMPTY}


def _ips_set(ips: list[Any]) -> dict[str, Any]:
    """`_list_set(ips)` for podIPs, spelled out: every pod has IPs of its own, so a memo of
    them would mostly miss (and crowd out the entries that recur)."""
    out: dict[str, Any] = {}
    for item in ips:
        if item.__class__ is not dict or len(item) != 1 or item.get("ip").__class__ is not str:
            return _list_set(ips)
        out['k:{"ip":' + orjson.dumps(item["ip"]).decode() + "}"] = _IP_ITEM
    return out or _EMPTY


def _conditions_shape(conditions: Any) -> tuple[Any, ...]:
    """Each condition's keys and type (TypeError if one is not a map)."""
    if conditions.__class__ is not list or not conditions:
        return ()
    return tuple(map(tuple, map(dict.keys, conditions))), tuple(map(condition_type, conditions))


def _usual_status(status: dict[str, Any]) -> bool:
    """Whether the shape `pod_status_fields` takes decides this status' set (but podIPs).

    No maps, no lists but the atomic ones, `podIPs` and `conditions`; conditions
    of scalars, each named by its type (no other key of `_LIST_KEYS` before it), a
    string (1 and True are equal in a memo's key, yet encode apart).
    """
    for name, value in status.items():
        if value.__class__ is dict:
            return False
        if value.__class__ is not list or name in _ATOMIC_LISTS or name == "podIPs":
            continue
        if name != "conditions":
            return False
        for item in value:
            if _naming_key(item) != "type" or item["type"].__class__ is not str:
                return False
            if not _NESTED.isdisjoint(map(type, item.values())):
                return False
    return True


def managed_fields_entry(
    *,
    manager: str,
    at_ns: int,
    fields: dict[str, Any],
    subresource: str | None = None,
    api_version: str = "v1",
) -> dict[str, Any]:
    """One managedFields entry; every non-apply write is recorded as operation Update."""
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": rfc3339(at_ns),
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def touch_managed_fields(
    meta: dict[str, Any],
    *,
    manager: str,
    at_ns: int,
    fields: dict[str, Any],
    subresource: str | None = None,
    api_version: str = "v1",
) -> None:
    """Record a write by `manager` (replacing its previous entry for the same subresource)."""
    entries = meta.setdefault("managedFields", [])
    new = managed_fields_entry(
        manager=manager,
        at_ns=at_ns,
        fields=fields,
        subresource=subresource,
        api_version=api_version,
    )
    for i, entry in enumerate(entries):
        if entry.get("manager") == manager and entry.get("subresource") == subresource:
            entries[i] = new
            return
    entries.append(new)


def pull_policy(image: str) -> str:
    """The defaulted imagePullPolicy: Always for `:latest` or untagged images."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _ordered(d: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    return out


def default_pod(pod: dict[str, Any], *, rng: random.Random) -> None:
    """Apply the API server's defaulting and the ServiceAccount admission plugin, in place."""
    spec = pod.setdefault("spec", {})
    service_account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = service_account
    spec["serviceAccount"] = service_account
    mount_token = spec.get("automountServiceAccountToken", True)
    volume = f"kube-api-access-{random_suffix(rng)}"
    if mount_token:
        spec.setdefault("volumes", []).append(
            {
                "name": volume,
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {
                            "configMap": {
                                "name": "kube-root-ca.crt",
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            }
                        },
                        {
                            "downwardAPI": {
                                "items": [
                                    {
                                        "path": "namespace",
                                        "fieldRef": {
                                            "apiVersion": "v1",
                                            "fieldPath": "metadata.namespace",
                                        },
                                    }
                                ]
                            }
                        },
                    ],
                    "defaultMode": 420,
                },
            }
        )
    for container in [*spec.get("initContainers", ()), *spec.get("containers", ())]:
        container.setdefault("resources", {})
        if mount_token:
            container.setdefault("volumeMounts", []).append(
                {"name": volume, "readOnly": True, "mountPath": _SA_MOUNT}
            )
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("imagePullPolicy", pull_policy(container.get("image", "")))
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault(
        "tolerations",
        [
            {
                "key": f"node.kubernetes.io/{taint}",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
            for taint in ("not-ready", "unreachable")
        ],
    )
    spec.setdefault("priority", 0)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    pod["spec"] = _ordered(spec, _POD_SPEC_ORDER)
    has_resources = any(c.get("resources") for c in spec.get("containers", ()))
    pod["status"] = {"phase": "Pending", "qosClass": "Burstable" if has_resources else "BestEffort"}


def default_namespace(ns: dict[str, Any]) -> None:
    """The name label, the `kubernetes` finalizer and phase Active."""
    name = ns["metadata"]["name"]
    labels = ns["metadata"].setdefault("labels", {})
    labels["kubernetes.io/metadata.name"] = name
    ns["spec"] = {"finalizers": ["kubernetes"]}
    ns["status"] = {"phase": "Active"}


def node_object(*, name: str, index: int, images: tuple[str, ...]) -> dict[str, Any]:
    """A Ready node as a kubelet registers it (capacity, conditions, addresses, nodeInfo)."""
    capacity = {
        "cpu": "8",
        "ephemeral-storage": "102626232Ki",
        "hugepages-2Mi": "0",
        "memory": "32856228Ki",
        "pods": "110",
    }
    condition_text = {
        "MemoryPressure": ("KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        "DiskPressure": ("KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        "PIDPressure": ("KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    }
    conditions = [
        {"type": t, "status": "False", "reason": r, "message": m}
        for t, (r, m) in condition_text.items()
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
        }
    )
    return {
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": f"10.244.{index}.0/24", "podCIDRs": [f"10.244.{index}.0/24"]},
        "status": {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": node_ip(index)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": f"{index:032x}",
                "systemUUID": f"{index:08x}-0000-0000-0000-000000000000",
                "bootID": f"{index:08x}-b007-0000-0000-000000000000",
                "kernelVersion": "6.1.0-sim",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "v1.32.0",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "images": [{"names": [image], "sizeBytes": image_size(image)} for image in images],
        },
    }


def node_ip(index: int) -> str:
    return f"10.0.0.{index + 2}"


def image_size(image: str) -> int:
    """A stable, plausible image size in bytes (20-200 MB), derived from the name."""
    return 20_000_000 + zlib.crc32(image.encode()) % 180_000_000
