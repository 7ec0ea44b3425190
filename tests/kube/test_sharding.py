"""Sharding by namespace hash and the plan of which informers a process runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tracewatch.core.snapshots import ObjectMeta, Pod
from tracewatch.kube.sharding import Shard, shard_of
from tracewatch.kube.watchset import watch_plan


def test_hash_is_stable_across_processes() -> None:
    """The shard of a namespace is the same in another interpreter (no randomised str hash)."""
    names = ["shop", "billing", "kube-system", "a", "ünïcode"]
    here = [shard_of(n, total_shards=7) for n in names]
    code = (
        "from tracewatch.kube.sharding import shard_of;"
        f"print([shard_of(n, total_shards=7) for n in {names!r}])"
    )
    there = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": "."},
    ).stdout.strip()
    assert there == str(here)


def test_cluster_scoped_objects_go_to_shard_0_and_namespaces_spread() -> None:
    """Objects without a namespace are shard 0's; many namespaces use every shard."""
    assert shard_of("", total_shards=5) == 0
    used = {shard_of(f"ns-{i}", total_shards=4) for i in range(200)}
    assert used == {0, 1, 2, 3}


def test_each_object_belongs_to_exactly_one_shard() -> None:
    """For any namespace, exactly one of the n shards keeps the object."""
    for i in range(50):
        pod = Pod(metadata=ObjectMeta(name="p", namespace=f"team-{i}", uid=str(i)))
        assert sum(Shard(index=k, total=3).keeps(pod) for k in range(3)) == 1


@pytest.mark.parametrize(("index", "total"), [(1, 1), (-1, 2), (0, 0)])
def test_impossible_shards_are_refused(index: int, total: int) -> None:
    """A shard index outside [0, total) is a ValueError naming both numbers."""
    with pytest.raises(ValueError, match=f"shard {index} of {total}"):
        Shard(index=index, total=total)


def test_plan_watches_cluster_scoped_once_and_namespaced_per_namespace() -> None:
    """Namespaced resources per named namespace, cluster-scoped ones once, unknown refused."""
    plan = watch_plan(resources=["pods", "nodes"], namespaces=["a", "b"], shard=Shard())
    assert [(r.name, ns) for r, ns in plan] == [("pods", "a"), ("pods", "b"), ("nodes", None)]
    plan = watch_plan(resources=["pods", "events"], namespaces=[], shard=Shard())
    assert [(r.name, ns) for r, ns in plan] == [("pods", None), ("events", None)]
    with pytest.raises(ValueError, match="unknown resource 'widgets'"):
        watch_plan(resources=["widgets"], namespaces=[], shard=Shard())


def test_plan_leaves_out_what_cannot_belong_to_the_shard() -> None:
    """Off shard 0 no cluster-scoped informer runs; named namespaces of other shards are skipped."""
    names = [f"ns-{i}" for i in range(10)]
    shard = Shard(index=1, total=2)
    plan = watch_plan(resources=["pods", "persistentvolumes"], namespaces=names, shard=shard)
    assert {r.name for r, _ in plan} == {"pods"}
    assert [ns for _, ns in plan] == [n for n in names if shard_of(n, total_shards=2) == 1]
