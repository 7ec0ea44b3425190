"""Token files that rotate: re-read on change, after a 401, and kept across a bad moment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracewatch.kube.credentials import CredentialRefresher, TokenFile


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_file_is_reread_when_swapped(tmp_path: Path) -> None:
    """kubelet's atomic swap (new inode) is seen on the next request, no waiting a minute."""
    path = tmp_path / "token"
    path.write_text("one\n")
    tokens = TokenFile(path=path, monotonic=Clock())
    assert tokens.token() == "one"
    fresh = tmp_path / "new"
    fresh.write_text("two")
    fresh.replace(path)
    assert tokens.token() == "two"


def test_unchanged_file_is_reread_after_max_age_or_invalidate(tmp_path: Path) -> None:
    """Same stamp: cached until max_age passes or a 401 invalidates it."""
    path = tmp_path / "token"
    path.write_text("one")
    clock = Clock()
    tokens = TokenFile(path=path, max_age=60, monotonic=clock)
    tokens.token()
    stat = path.stat()
    path.write_text("two")  # same size, and the stamp forced back: a change stat cannot see
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert tokens.token() == "one"
    tokens.invalidate()
    assert tokens.token() == "two"
    path.write_text("thr")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    clock.now = 61
    assert tokens.token() == "thr"


def test_missing_or_empty_file_keeps_the_last_token(tmp_path: Path) -> None:
    """Mid-rotation the file may be absent or empty: the last good token is used meanwhile."""
    path = tmp_path / "token"
    path.write_text("good")
    tokens = TokenFile(path=path, monotonic=Clock())
    assert tokens.token() == "good"
    path.write_text("")
    assert tokens.token() == "good"
    path.unlink()
    assert tokens.token() == "good"
    with pytest.raises(OSError):
        TokenFile(path=tmp_path / "never").token()


async def test_refresher_puts_the_file_token_into_the_configuration(tmp_path: Path) -> None:
    """The hook sets the Bearer header value from the file on every call."""
    from kubernetes_asyncio.client import Configuration

    path = tmp_path / "token"
    path.write_text("abc")
    refresher = CredentialRefresher(token_file=TokenFile(path=path))
    configuration = Configuration()
    await refresher(configuration)
    assert configuration.api_key["BearerToken"] == "Bearer abc"
    refresher.rejected()
    await refresher(configuration)
    assert refresher.refreshes_after_rejection == 1
