"""An exporter that keeps what it is given: the test double, and a sink for benchmarks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from tracewatch.core.spans import SpanRecord
from tracewatch.export.base import ExportResult


class InMemoryExporter:
    """Collects every exported span in order; `wait_for` blocks until a predicate holds."""

    def __init__(self) -> None:
        self.spans: list[SpanRecord] = []
        self.batches = 0
        self._changed = asyncio.Event()

    async def export(self, spans: Sequence[SpanRecord]) -> ExportResult:
        self.spans.extend(spans)
        self.batches += 1
        self._changed.set()
        return ExportResult.SUCCESS

    async def shutdown(self) -> None:
        return None

    async def wait_for(
        self, predicate: Callable[[list[SpanRecord]], bool], *, timeout: float
    ) -> list[SpanRecord]:
        """The spans once `predicate(spans)` holds; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate(self.spans):
                self._changed.clear()
                await self._changed.wait()
        return self.spans
