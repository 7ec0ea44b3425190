"""Giving the C heap's free pages back to the operating system after a List.

A List of 100k objects borrows a few hundred MB (response pages, decoded items)
and frees it again, but glibc's malloc returns only the top of its heap on its
own: the rest stays mapped, and RSS (what a container's memory limit counts)
stays near the peak. `malloc_trim(0)` hands every free page back. Elsewhere
(musl, macOS) there is no such call and nothing to do.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

__all__ = ["release_free_heap"]


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


def release_free_heap() -> bool:
    """Return free C-heap pages to the OS; False where the C library cannot."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
