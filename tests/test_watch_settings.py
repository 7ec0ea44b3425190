"""The watch settings: resources, label selector, shard and total_shards, from every source."""

from __future__ import annotations

import pytest

from tracewatch.cli import main
from tracewatch.config import DEFAULT_RESOURCES, ConfigError, load
from tracewatch.kube.resources import RESOURCES


def test_defaults_watch_every_resource_unsharded() -> None:
    """By default every resource in the watch table is watched, by one unsharded instance."""
    settings = load(flags={}, environ={})
    assert set(settings.resources) == set(RESOURCES) == set(DEFAULT_RESOURCES)
    assert (settings.shard, settings.total_shards, settings.label_selector) == (0, 1, None)


def test_values_come_from_env_and_flags() -> None:
    """Comma lists from the environment; flags override; duplicates collapse."""
    settings = load(
        flags={"shard": "1", "total_shards": "3"},
        environ={
            "TRACEWATCH_RESOURCES": "pods,events,pods",
            "TRACEWATCH_LABEL_SELECTOR": "app=web",
        },
    )
    assert settings.resources == ("pods", "events")
    assert settings.label_selector == "app=web"
    assert (settings.shard, settings.total_shards) == (1, 3)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ({"resources": "pods,widgets"}, "unknown resource 'widgets'"),
        ({"shard": "2", "total_shards": "2"}, "'shard' must be below 'total_shards'"),
        ({"total_shards": "0"}, "total_shards"),
    ],
)
def test_bad_values_are_one_clear_error(flags: dict[str, str], says: str) -> None:
    """Unknown resources and impossible shards raise ConfigError naming the key."""
    with pytest.raises(ConfigError, match=says):
        load(flags=flags, environ={})


def test_bad_shard_flag_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`tracewatch run --shard 3 --total-shards 2` exits 2 with a single line on stderr."""
    assert main(["run", "--shard", "3", "--total-shards", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "total_shards" in err[0]
