"""Deterministic trace and span ids: the same lifecycle always gets the same ids.

A restart, a replay or a second replica therefore produces identical ids for
the same lifecycle, which makes duplicates detectable downstream.
"""

from __future__ import annotations

from hashlib import blake2b


def trace_id(*, uid: str, lifecycle: str) -> bytes:
    """16 bytes from the root object's uid and its lifecycle key (e.g. "create", "gen-3")."""
    return _nonzero(blake2b(f"{uid}/{lifecycle}".encode(), digest_size=16).digest())


def span_id(*, name: str, discriminator: str = "") -> bytes:
    """8 bytes from the span name and what makes it unique (its lifecycle's uid/key, ...).

    Independent of the trace id on purpose: a subtree that has to move to a trace of
    its own (its owner ended before it did) keeps every span id and parent link.
    """
    return _nonzero(blake2b(f"{name}/{discriminator}".encode(), digest_size=8).digest())


def _nonzero(digest: bytes) -> bytes:
    # All-zero ids are invalid in OTLP; a hash giving one is unlikely but cheap to rule out.
    return digest if any(digest) else b"\x01" + digest[1:]
