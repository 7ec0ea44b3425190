"""The StorageClasses the simulated cluster offers (a tuning knob, not a served resource).

The PV controller and the scheduler read them from `SimOptions.storage_classes`:
a PVC naming a class (or none, meaning the default class) is provisioned by that
class's external provisioner, at once (`Immediate`) or once a pod using it is
scheduled (`WaitForFirstConsumer`, the scheduler writes the selected node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageClass:
    """What the PV controller and the provisioner need to know of one class."""

    name: str
    provisioner: str
    volume_binding_mode: str = "WaitForFirstConsumer"
    """`Immediate` or `WaitForFirstConsumer`, as `storageclass.volumeBindingMode`."""
    reclaim_policy: str = "Delete"
    default: bool = False
    """`storageclass.kubernetes.io/is-default-class`: used by PVCs that name no class."""
    provisioner_instance: str = ""
    """The provisioner's Events' `source.component` (`<provisioner>_<pod>_<uid>`)."""

    @property
    def immediate(self) -> bool:
        return self.volume_binding_mode == "Immediate"


DEFAULT_STORAGE_CLASSES: tuple[StorageClass, ...] = (
    StorageClass(
        name="standard",
        provisioner="rancher.io/local-path",
        default=True,
        provisioner_instance="rancher.io/local-path_local-path-provisioner-7577fdbbfb-sim_"
        "3b1b8a0e-5a2f-4c55-9a67-0d0c4b6f1e21",
    ),
    StorageClass(
        name="fast",
        provisioner="csi.sim.tracewatch.io",
        volume_binding_mode="Immediate",
        provisioner_instance="csi.sim.tracewatch.io_csi-provisioner-0_"
        "9d3c5e71-2b4a-4f0e-8c1d-6a7b8c9d0e1f",
    ),
)
"""kind's `standard` (local-path, WaitForFirstConsumer, default) and an Immediate CSI class."""


def class_for(classes: tuple[StorageClass, ...], name: str | None) -> StorageClass | None:
    """The class a PVC's `storageClassName` names; None/absent means the default class.

    An empty string means "no class" (static binding only), as in Kubernetes.
    """
    if name is None:
        return next((c for c in classes if c.default), None)
    return next((c for c in classes if c.name == name), None)


_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def admit_claim(claim: dict[str, Any], classes: tuple[StorageClass, ...]) -> None:
    """The DefaultStorageClass admission plugin, in place: a new claim that names no class
    (neither `spec.storageClassName`, not even "", nor the beta annotation) gets the
    default class's name written into it, so it reads back as `standard` on kind."""
    spec = claim.setdefault("spec", {})
    annotations = (claim.get("metadata") or {}).get("annotations") or {}
    if spec.get("storageClassName") is not None or annotations.get(_BETA_CLASS_ANNOTATION):
        return
    default = class_for(classes, None)
    if default is not None:
        spec["storageClassName"] = default.name
