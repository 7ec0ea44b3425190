"""The set of informers one tracewatch process runs: which resources, where, for which shard.

One informer per (resource, namespace): namespaced resources once per named
namespace, or once cluster-wide; cluster-scoped resources (nodes, persistent
volumes) once. With sharding, each informer drops other shards' objects before
remembering them, and pairs that cannot hold anything for this shard are not
watched at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from tracewatch.kube.connection import ApiTransport
from tracewatch.kube.informer import Informer, InformerOptions, RawSink, Sink
from tracewatch.kube.resources import WatchedResource, resource_named
from tracewatch.kube.sharding import Shard

__all__ = ["UNLABELLED_RESOURCES", "build_informers", "watch_plan"]

UNLABELLED_RESOURCES = frozenset({"events"})
"""Resources a label selector is not applied to: Events carry no labels of their object."""


def watch_plan(
    *, resources: Sequence[str], namespaces: Sequence[str], shard: Shard
) -> list[tuple[WatchedResource, str | None]]:
    """The (resource, namespace) pairs to run one informer each for (None: cluster-wide).

    Raises ValueError for an unknown resource name.
    """
    plan: list[tuple[WatchedResource, str | None]] = []
    for name in dict.fromkeys(resources):
        resource = resource_named(name)
        if not resource.namespaced:
            if shard.index == 0:
                plan.append((resource, None))
            continue
        if not namespaces:
            plan.append((resource, None))
            continue
        plan.extend((resource, ns) for ns in dict.fromkeys(namespaces) if shard.keeps_namespace(ns))
    return plan


def build_informers(
    *,
    connection: ApiTransport,
    sink: Sink,
    resources: Sequence[str],
    namespaces: Sequence[str] = (),
    label_selector: str | None = None,
    shard: Shard | None = None,
    raw_sink: RawSink | None = None,
    options: InformerOptions | None = None,
) -> list[Informer]:
    """Informers for `watch_plan`, all feeding `sink` (and `raw_sink` in record mode)."""
    shard = shard or Shard()
    keep = None if shard.everything else shard.keeps
    return [
        Informer(
            connection=connection,
            resource=resource,
            namespace=namespace,
            sink=sink,
            label_selector=None if resource.name in UNLABELLED_RESOURCES else label_selector,
            options=options,
            object_filter=keep,
            raw_sink=raw_sink,
        )
        for resource, namespace in watch_plan(
            resources=resources, namespaces=namespaces, shard=shard
        )
    ]
