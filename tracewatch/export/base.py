"""The exporter contract: a sink that takes batches of span records and says how it went.

Exporters return an `ExportResult` instead of raising: transport failures are
logged and classified at this edge, and whoever drives the exporter (the
export queue, later) decides whether to retry. `export` is never called
concurrently on one exporter by that driver, nor after `shutdown`.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from tracewatch.core.spans import SpanRecord

__all__ = ["ExportResult", "SpanExporter"]


class ExportResult(enum.Enum):
    """How one export call ended."""

    SUCCESS = "success"
    # The backend may accept the same batch later (unavailable, throttled, timed out).
    RETRYABLE_FAILURE = "retryable_failure"
    # Retrying the same batch cannot help (bad data, auth, misconfiguration): drop it.
    FAILURE = "failure"


@runtime_checkable
class SpanExporter(Protocol):
    """A destination for finished spans."""

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        """Send one batch; never raises on transport errors, returns their class instead."""
        ...

    async def shutdown(self) -> None:
        """Release connections and files; idempotent."""
        ...
