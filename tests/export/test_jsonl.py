"""JSONL exporter: one OTLP/JSON request per batch, one line each, appended and flushed."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from tracewatch.export.base import ExportResult
from tracewatch.export.encoding import encode_json
from tracewatch.export.jsonl import JsonlExporter

from .builders import OTHER_TRACE, pod_startup


async def test_one_line_per_batch_appended_to_a_file(tmp_path: Path) -> None:
    """Each batch becomes one line (the encode_json bytes); reopening appends."""
    out = tmp_path / "spans.jsonl"
    first, second = pod_startup(), pod_startup(OTHER_TRACE)
    exporter = JsonlExporter(path=out, resource_attributes=(("k8s.cluster.name", "c"),))
    assert await exporter.export(first) is ExportResult.SUCCESS
    # Flushed after each batch: visible before shutdown.
    assert out.read_bytes().count(b"\n") == 1
    assert await exporter.export([]) is ExportResult.SUCCESS
    await exporter.shutdown()
    again = JsonlExporter(path=out, resource_attributes=(("k8s.cluster.name", "c"),))
    assert await again.export(second) is ExportResult.SUCCESS
    await again.shutdown()
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""
    attrs = (("k8s.cluster.name", "c"),)
    assert lines[:-1] == [
        encode_json(first, resource_attributes=attrs),
        encode_json(second, resource_attributes=attrs),
    ]
    ids = {
        s["traceId"]
        for line in lines[:-1]
        for rs in orjson.loads(line)["resourceSpans"]
        for s in rs["scopeSpans"][0]["spans"]
    }
    assert ids == {pod_startup()[0].trace_id.hex(), OTHER_TRACE.hex()}


async def test_writes_to_a_text_stream_without_closing_it() -> None:
    """A given stream receives the lines and stays open after shutdown."""
    stream = io.StringIO()
    exporter = JsonlExporter(stream=stream)
    await exporter.export(pod_startup())
    await exporter.shutdown()
    assert not stream.closed
    (line,) = stream.getvalue().splitlines()
    assert len(orjson.loads(line)["resourceSpans"]) == 3


async def test_broken_stream_is_a_failure_not_an_exception() -> None:
    """Writing to a closed stream returns FAILURE."""
    stream = io.StringIO()
    stream.close()
    exporter = JsonlExporter(stream=stream)
    assert await exporter.export(pod_startup()) is ExportResult.FAILURE


def test_needs_exactly_one_destination(tmp_path: Path) -> None:
    """Neither or both of path and stream is a ValueError."""
    with pytest.raises(ValueError, match="exactly one"):
        JsonlExporter()
    with pytest.raises(ValueError, match="exactly one"):
        JsonlExporter(path=tmp_path / "x", stream=io.StringIO())


def test_unopenable_path_fails_at_construction(tmp_path: Path) -> None:
    """A path in a missing directory raises OSError when the exporter is built."""
    with pytest.raises(OSError):
        JsonlExporter(path=tmp_path / "missing" / "x.jsonl")
