"""Read-only partial views of stored objects, decoded straight from their bytes.

`Stored.obj` decodes the whole object (a pod's managedFields alone is half of
it). A component that only reads a few fields decodes just those with one of
the views here: plain dicts holding the declared keys (absent keys are absent,
as in the full object), everything else skipped by the decoder. No view reads
managedFields: where the store split it out, its bytes are cut before decoding
(cheaper than having the decoder skip them), and so is all of metadata for a
view without it.
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


_DECODERS: dict[Any, tuple[msgspec.json.Decoder[Any], bool]] = {}
"""A shape's decoder, and whether the shape reads metadata."""
_COMMA = ord(",")


def view(stored: Stored, shape: type[Any]) -> dict[str, Any]:
    """The fields of `shape` (one of the TypedDicts above) decoded from the stored object.

    A plain dict: read it like the full object, knowing only those keys are there."""
    known = _DECODERS.get(shape)
    if known is None:
        reads_metadata = "metadata" in shape.__annotations__
        known = _DECODERS[shape] = (msgspec.json.Decoder(shape), reads_metadata)
    decoder, reads_metadata = known
    data, start, end = stored.data, stored.fields_at, stored.fields_end
    if not end:
        return decoder.decode(data)
    if reads_metadata:
        return decoder.decode(data[:start] + data[end:])
    # `,"managedFields":[...]` ends metadata: `data[end]` is the "}" closing it, then
    # either "," and the keys after metadata, or the object's closing "}".
    return decoder.decode(b"{" + data[end + 2 :] if data[end + 1] == _COMMA else b"{}")
