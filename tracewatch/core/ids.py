"""Deterministic trace and span ids: the same lifecycle always gets the same ids.

A restart, a replay or a second replica therefore produces identical ids for
the same lifecycle, which makes duplicates detectable downstream.
"""

from __future__ import annotations

from hashlib import blake2b

# Unkeyed blake2b states with the digest sizes we use: copying one and feeding it the
# input gives the same digest as blake2b(data, digest_size=n), for half the cost.
_BLAKE2B_16 = blake2b(digest_size=16)
_BLAKE2B_8 = blake2b(digest_size=8)
# All-zero ids are invalid in OTLP; a hash giving one is unlikely but cheap to rule out:
# its first byte becomes 1.
_ZERO_16, _NONZERO_16 = bytes(16), b"\x01" + bytes(15)
_ZERO_8, _NONZERO_8 = bytes(8), b"\x01" + bytes(7)


def trace_id(*, uid: str, lifecycle: str) -> bytes:
    """16 bytes from the root object's uid and its lifecycle key (e.g. "create", "gen-3")."""
    h = _BLAKE2B_16.copy()
    h.update(f"{uid}/{lifecycle}".encode())
    digest = h.digest()
    return digest if digest != _ZERO_16 else _NONZERO_16


def span_id(*, name: str, discriminator: str = "") -> bytes:
    """8 bytes from the span name and what makes it unique (its lifecycle's uid/key, ...).

    Independent of the trace id on purpose: a subtree that has to move to a trace of
    its own (its owner ended before it did) keeps every span id and parent link.
    """
    return span_id_of(f"{name}/{discriminator}")


def span_id_of(key: str) -> bytes:
    """`span_id` from its key, "<name>/<discriminator>", for callers that build it in one step."""
    h = _BLAKE2B_8.copy()
    h.update(key.encode())
    digest = h.digest()
    return digest if digest != _ZERO_8 else _NONZERO_8
