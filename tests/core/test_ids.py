"""Deterministic ids: the derivation every replica, restart and replay must agree on."""

from __future__ import annotations

from hashlib import blake2b

import pytest

from tracewatch.core import ids


def test_span_id_is_blake2b_of_name_and_discriminator() -> None:
    """A span id is the 8-byte blake2b of "<name>/<discriminator>", as earlier versions made it."""
    got = ids.span_id(name="kubelet.StartPod", discriminator="uid-1/create/")
    assert got == blake2b(b"kubelet.StartPod/uid-1/create/", digest_size=8).digest()


def test_trace_id_is_blake2b_of_uid_and_lifecycle() -> None:
    """A trace id is the 16-byte blake2b of "<uid>/<lifecycle>", as earlier versions made it."""
    got = ids.trace_id(uid="uid-1", lifecycle="gen-3")
    assert got == blake2b(b"uid-1/gen-3", digest_size=16).digest()


def test_ids_do_not_depend_on_earlier_calls() -> None:
    """Deriving other ids in between leaves an id unchanged (no state carries over)."""

    def both() -> tuple[bytes, bytes]:
        return ids.span_id(name="a", discriminator="x"), ids.trace_id(uid="u", lifecycle="create")

    first = both()
    for n in range(3):
        ids.span_id(name=f"b{n}", discriminator="y" * n)
        ids.trace_id(uid=f"v{n}", lifecycle="delete")
    assert both() == first


class _ZeroHash:
    """Stands in for a blake2b state whose digest comes out all zero."""

    def __init__(self, size: int) -> None:
        self.size = size

    def copy(self) -> _ZeroHash:
        return self

    def update(self, data: bytes) -> None:
        pass

    def digest(self) -> bytes:
        return bytes(self.size)


def test_an_all_zero_digest_still_gives_a_valid_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTLP rejects all-zero ids: such a digest gets 1 as its first byte."""
    monkeypatch.setattr(ids, "_BLAKE2B_8", _ZeroHash(8))
    monkeypatch.setattr(ids, "_BLAKE2B_16", _ZeroHash(16))
    assert ids.span_id(name="a") == b"\x01" + bytes(7)
    assert ids.trace_id(uid="u", lifecycle="create") == b"\x01" + bytes(15)


def test_span_id_of_a_key_matches_span_id_of_its_parts() -> None:
    """span_id_of("<name>/<discriminator>") is span_id of that name and discriminator."""
    by_parts = ids.span_id(name="kubelet.PullImage", discriminator="uid-1/create/app")
    assert ids.span_id_of("kubelet.PullImage/uid-1/create/app") == by_parts
