"""The watch layer: API connection, decoding into snapshots, informers (list + watch).

Imports `tracewatch.core` only (snapshots, observations); never sim, export or cli.
"""

from tracewatch.kube.backoff import Backoff, BackoffPolicy
from tracewatch.kube.connection import ApiConnection, ApiError, ApiTransport, ReadTimeout
from tracewatch.kube.decoding import (
    SNAPSHOT_TYPES,
    DecodeError,
    ListPage,
    ResourceDecoder,
    Status,
    WatchLine,
    decoder_for,
)
from tracewatch.kube.informer import Informer, InformerOptions, InformerStats, Sink
from tracewatch.kube.resources import RESOURCES, WatchedResource, resource_named

__all__ = [
    "RESOURCES",
    "SNAPSHOT_TYPES",
    "ApiConnection",
    "ApiError",
    "ApiTransport",
    "Backoff",
    "BackoffPolicy",
    "DecodeError",
    "Informer",
    "InformerOptions",
    "InformerStats",
    "ListPage",
    "ReadTimeout",
    "ResourceDecoder",
    "Sink",
    "Status",
    "WatchLine",
    "WatchedResource",
    "decoder_for",
    "resource_named",
]
