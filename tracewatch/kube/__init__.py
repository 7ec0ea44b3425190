"""The watch layer: API connection, decoding into snapshots, informers (list + watch).

Imports `tracewatch.core` only (snapshots, observations); never sim, export or cli.
"""

from tracewatch.kube.backoff import Backoff, BackoffPolicy
from tracewatch.kube.connection import ApiConnection, ApiError, ApiTransport, ReadTimeout
from tracewatch.kube.credentials import CredentialRefresher, TokenFile
from tracewatch.kube.decoding import (
    SNAPSHOT_TYPES,
    DecodeError,
    ListPage,
    ResourceDecoder,
    Status,
    WatchLine,
    decoder_for,
)
from tracewatch.kube.informer import (
    Informer,
    InformerOptions,
    InformerStats,
    ObjectFilter,
    RawSink,
    Sink,
)
from tracewatch.kube.resources import (
    RESOURCES,
    WatchedResource,
    resource_for_kind,
    resource_named,
)
from tracewatch.kube.sharding import Shard, shard_of
from tracewatch.kube.watchset import build_informers, watch_plan

__all__ = [
    "RESOURCES",
    "SNAPSHOT_TYPES",
    "ApiConnection",
    "ApiError",
    "ApiTransport",
    "Backoff",
    "BackoffPolicy",
    "CredentialRefresher",
    "DecodeError",
    "Informer",
    "InformerOptions",
    "InformerStats",
    "ListPage",
    "ObjectFilter",
    "RawSink",
    "ReadTimeout",
    "ResourceDecoder",
    "Shard",
    "Sink",
    "Status",
    "TokenFile",
    "WatchLine",
    "WatchedResource",
    "build_informers",
    "decoder_for",
    "resource_for_kind",
    "resource_named",
    "shard_of",
    "watch_plan",
]
