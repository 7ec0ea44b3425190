"""The state file: which lifecycles were emitted, so a restart never emits one twice.

The engine's ids are deterministic, so a duplicate would be detectable
downstream anyway; the state file keeps it from happening. It holds the
(uid, lifecycle key) pairs the engine still remembers (objects not yet
deleted), written atomically (temporary file, fsync, rename) so a crash
mid-write leaves the previous file intact. A missing file is a first start;
an unreadable or corrupt one is moved aside with a warning and tracewatch
starts as if fresh: losing de-duplication is better than not starting.

Lifecycles emitted after the last save and before a crash may be emitted
again on restart (at most one save interval's worth); a clean shutdown saves
after the export queue was flushed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import msgspec
import structlog

log = structlog.get_logger(__name__)
VERSION = 1


class _State(msgspec.Struct, frozen=True):
    version: int
    emitted: list[tuple[str, str]]


def load(path: str | os.PathLike[str]) -> set[tuple[str, str]]:
    """The emitted lifecycles recorded at `path`; empty for a missing or unusable file."""
    target = Path(path)
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        return set()
    except OSError as exc:
        log.warning("statefile.unreadable", path=str(target), error=exc.strerror or str(exc))
        return set()
    try:
        state = msgspec.json.decode(raw, type=_State)
        if state.version != VERSION:
            raise ValueError(f"version {state.version}, expected {VERSION}")
    except (msgspec.DecodeError, ValueError) as exc:
        aside = target.with_name(target.name + ".corrupt")
        with contextlib.suppress(OSError):
            target.replace(aside)
        log.warning("statefile.corrupt", path=str(target), moved_to=str(aside), error=str(exc))
        return set()
    return {(uid, key) for uid, key in state.emitted}


def save(path: str | os.PathLike[str], emitted: Iterable[tuple[str, str]]) -> None:
    """Write the emitted lifecycles atomically; OSError if the directory is not writable."""
    target = Path(path)
    payload = msgspec.json.encode(_State(version=VERSION, emitted=sorted(emitted)))
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
