"""release_free_heap: glibc's malloc_trim where it exists, a no-op elsewhere."""

from __future__ import annotations

import platform
import sys

import pytest

from tracewatch.kube import heaptrim


def test_trims_on_glibc_and_reports_it() -> None:
    """On Linux with glibc the heap is trimmed (True); without malloc_trim it says it could not."""
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert heaptrim.release_free_heap() is expected


def test_without_malloc_trim_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C library without malloc_trim (musl, macOS) makes the call a harmless False."""
    monkeypatch.setattr(heaptrim, "_malloc_trim", None)
    assert heaptrim.release_free_heap() is False
