"""`tracewatch record`: write what the informers observe to a JSONL capture.

The informers run in record mode (`raw_sink`): each observation comes with its
object's bytes as the API server sent them, so a capture holds full objects
(managedFields and all) that a person can attach to a bug report, while the
normal daemon path never pays for keeping them. List items, which the server
sends without `kind`/`apiVersion`, get both added so every line says what it is.

A deletion found by a relist (RELISTED_GONE: it happened while our history
was lost, at an unknown time) is recorded as DELETED with the last object we
saw and the relist's receipt time: the capture format has no separate type,
and a replay then treats it as an observed deletion at that time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import BinaryIO

import orjson
import structlog

from tracewatch.capture.lines import format_observed_at
from tracewatch.config import Settings
from tracewatch.core.observations import Change, Observation
from tracewatch.kube.resources import resource_named
from tracewatch.kube.sharding import Shard
from tracewatch.kube.watchset import build_informers

__all__ = ["CaptureWriter", "run_record"]

log = structlog.get_logger(__name__)


class CaptureWriter:
    """Encodes observations with their raw objects as capture lines onto a binary stream."""

    def __init__(self, *, stream: BinaryIO) -> None:
        self._stream = stream
        self.lines = 0
        self._heads: dict[str, bytes] = {}

    def write(self, observation: Observation, raw: bytes) -> None:
        """One capture line for `observation`; `raw` is its object as received."""
        change = observation.change
        kind = "DELETED" if change is Change.RELISTED_GONE else change.value
        head = (
            b'{"observedAt":"'
            + format_observed_at(observation.observed_at_ns).encode()
            + b'","type":"'
            + kind.encode()
            + b'","object":'
        )
        self._stream.write(head + self._with_kind(observation.resource, raw) + b"}\n")
        self.lines += 1

    def _with_kind(self, resource: str, raw: bytes) -> bytes:
        stripped = raw.lstrip()
        if stripped.startswith(b'{"kind"'):
            return raw  # what the API server's watch sends: kind and apiVersion first
        obj = orjson.loads(raw)
        if "kind" in obj:
            return raw
        head = self._heads.get(resource)
        if head is None:
            info = resource_named(resource)
            head = self._heads[resource] = orjson.dumps(
                {"kind": info.kind, "apiVersion": info.api_version}
            )[:-1]
        return head + (b"}" if not obj else b"," + orjson.dumps(obj)[1:])

    def flush(self) -> None:
        self._stream.flush()


async def run_record(*, settings: Settings, output: str | None, duration: float | None) -> int:
    """Record until `duration` seconds passed or SIGINT/SIGTERM; 0 on success, 2 on bad
    configuration (one line on stderr), 1 when the capture cannot be written."""
    from tracewatch.daemon import connect  # the daemon's credential rules, not a copy of them

    if not output:
        print("tracewatch record: error: --output FILE is required ('-' for stdout)",
              file=sys.stderr)
        return 2
    try:
        connection = await connect(settings)
    except Exception as exc:  # kubernetes_asyncio raises ConfigException and plain errors alike
        print(f"tracewatch record: error: cannot load Kubernetes configuration: {exc}",
              file=sys.stderr)
        return 2
    try:
        stream = sys.stdout.buffer if output == "-" else open(output, "wb")  # noqa: SIM115
    except OSError as exc:
        print(f"tracewatch record: error: cannot write {output}: {exc.strerror or exc}",
              file=sys.stderr)
        await connection.close()
        return 1
    writer = CaptureWriter(stream=stream)
    async with connection:
        informers = build_informers(
            connection=connection,
            sink=_discard,
            raw_sink=writer.write,
            resources=settings.resources,
            namespaces=settings.namespace,
            label_selector=settings.label_selector,
            shard=Shard(index=settings.shard, total=settings.total_shards),
        )
        tasks = [asyncio.create_task(i.run(), name=f"record-{i.resource.name}")
                 for i in informers]
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
                installed.append(sig)
        log.info("record.started", server=connection.base_url, output=output,
                 resources=list(settings.resources))
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            writer.flush()
            if stream is not sys.stdout.buffer:
                stream.close()
    print(f"# recorded {writer.lines} observation(s) to {output}", file=sys.stderr)
    return 0


def _discard(observation: Observation) -> None:
    """Record mode feeds no engine: the raw sink is the destination."""
