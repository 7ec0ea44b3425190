"""Read-only partial views of stored objects, decoded straight from their bytes.

`Stored.obj` decodes the whole object (a pod's managedFields alone is half of
it). A component that only reads a few fields decodes just those with one of
the views here: plain dicts holding the declared keys (absent keys are absent,
as in the full object), everything else skipped by the decoder.
"""

from __future__ import annotations

from typing import Any, TypedDict

import msgspec

from tracewatch.sim.store import Stored


class _PodSpecForKubelet(TypedDict, total=False):
    containers: Any
    initContainers: Any
    restartPolicy: Any


class _PodStatusForKubelet(TypedDict, total=False):
    containerStatuses: Any


class PodForKubelet(TypedDict, total=False):
    """What the kubelet reads of a pod it runs: its containers and their statuses."""

    spec: _PodSpecForKubelet
    status: _PodStatusForKubelet


class _MetaForScheduling(TypedDict, total=False):
    namespace: Any
    deletionTimestamp: Any


class _PodSpecForScheduling(TypedDict, total=False):
    nodeName: Any
    nodeSelector: Any
    affinity: Any
    volumes: Any
    containers: Any


class PodForScheduling(TypedDict, total=False):
    """What the scheduler's filters read of a pod (`placement.evaluate`)."""

    metadata: _MetaForScheduling
    spec: _PodSpecForScheduling


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def view(stored: Stored, shape: type[Any]) -> dict[str, Any]:
    """The fields of `shape` (one of the TypedDicts above) decoded from the stored object.

    A plain dict: read it like the full object, knowing only those keys are there."""
    decoder = _DECODERS.get(shape)
    if decoder is None:
        decoder = _DECODERS[shape] = msgspec.json.Decoder(shape)
    return decoder.decode(stored.data)
