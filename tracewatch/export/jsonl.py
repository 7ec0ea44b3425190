"""JSONL exporter: one OTLP/JSON ExportTraceServiceRequest per line, one line per batch.

Each line is what `encode_json` returns, so any OTLP/JSON reader (the
OpenTelemetry Collector's otlpjsonfile receiver, `jq`) can consume the file,
and the same spans always give the same bytes (replays diff cleanly).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO, TextIO

import structlog

from tracewatch.core.spans import Attributes, SpanRecord
from tracewatch.export.base import ExportResult
from tracewatch.export.encoding import encode_json

__all__ = ["JsonlExporter"]

log = structlog.get_logger("tracewatch.export")


class JsonlExporter:
    """Appends batches to a file (opened in append mode now) or to a given text stream.

    Raises OSError from the constructor when the file cannot be opened, so a
    bad `--output` fails at start-up rather than on the first batch. A stream
    passed in is flushed after each batch but never closed.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str] | None = None,
        stream: TextIO | None = None,
        resource_attributes: Attributes = (),
    ) -> None:
        if (path is None) == (stream is None):
            raise ValueError("the jsonl exporter needs exactly one of a path or a stream")
        self._file: BinaryIO | None = open(path, "ab") if path is not None else None  # noqa: SIM115
        self._stream = stream
        self._name = os.fspath(path) if path is not None else getattr(stream, "name", "<stream>")
        self._resource_attributes = resource_attributes
        self._closed = False

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        """Write one line for the batch (nothing for an empty one) and flush."""
        if self._closed:
            log.warning("jsonl export after shutdown", output=self._name, spans=len(spans))
            return ExportResult.FAILURE
        if not spans:
            return ExportResult.SUCCESS
        try:
            line = encode_json(spans, resource_attributes=self._resource_attributes) + b"\n"
            # A few KB to a local file: cheaper inline than a thread hop.
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
            else:
                assert self._stream is not None
                self._stream.write(line.decode())
                self._stream.flush()
        except Exception:
            log.exception("jsonl export failed", output=self._name, spans=len(spans))
            return ExportResult.FAILURE
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        """Close the file this exporter opened; idempotent."""
        self._closed = True
        file, self._file = self._file, None
        if file is not None:
            file.close()
