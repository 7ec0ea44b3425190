"""Where the real recorded objects live (../shared/realdata next to the repository), and
how the API server lays such an object out on the wire.

Read in place (never copied into the repo; see its SOURCES.md). Tests that need
them skip, saying so, only where the folder is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "pulumi"
ABSENT = f"real recordings not present at {REALDATA}"

# ObjectMeta's fields in Go struct order, as the API server writes them.
_META_ORDER = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
               "generation", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
               "finalizers", "managedFields")


def _fields_v1(value: Any) -> dict[str, Any]:
    """A FieldsV1 set for a value, as managedFields hold them (objects only)."""
    if not isinstance(value, dict):
        return {}
    return {f"f:{key}": _fields_v1(item) for key, item in value.items()}


def server_layout(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` laid out as the API server writes it, with two managedFields entries (the
    recorded objects predate them or were stripped of them)."""
    meta = {key: obj["metadata"][key] for key in _META_ORDER if key in obj["metadata"]}
    meta["managedFields"] = [
        {"manager": "kubectl", "operation": "Update", "apiVersion": obj["apiVersion"],
         "time": meta.get("creationTimestamp"), "fieldsType": "FieldsV1",
         "fieldsV1": _fields_v1({"spec": obj.get("spec", {})})},
        {"manager": "kubelet", "operation": "Update", "apiVersion": obj["apiVersion"],
         "time": meta.get("creationTimestamp"), "fieldsType": "FieldsV1",
         "fieldsV1": _fields_v1({"status": obj.get("status", {})}), "subresource": "status"},
    ]
    head = {"kind": obj["kind"], "apiVersion": obj["apiVersion"], "metadata": meta}
    return head | {key: value for key, value in obj.items() if key not in head}
