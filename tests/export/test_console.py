"""Console tree: indentation by depth, order by start, durations, waterfall bars, roots."""

from __future__ import annotations

import io

import pytest

from tracewatch.core.spans import StatusCode
from tracewatch.export.base import ExportResult
from tracewatch.export.console import ConsoleExporter, format_duration, format_traces

from .builders import MS, OTHER_TRACE, TRACE, pod_startup, span


def _rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("trace ")]


def _name_column(line: str) -> str:
    return line.split(" [", 1)[0]


def test_tree_indents_children_under_parents_in_start_order() -> None:
    """Root first, children below by start time, grandchildren indented one level more."""
    names = [_name_column(r) for r in _rows(format_traces(pod_startup()))]
    assert names == [
        "k8s.CreatePod",
        "├─ scheduler.SchedulePod",
        "└─ kubelet.StartPod",
        "   ├─ kubelet.PullImage",
        "   └─ kubelet.StartContainer",
    ]


def test_each_line_has_service_duration_offset_and_bar() -> None:
    """A line reads: name [service], duration, +offset from the trace start, |bar|."""
    rows = {_name_column(r).split(" ")[-1]: r for r in _rows(format_traces(pod_startup()))}
    pull = rows["kubelet.PullImage"]
    assert "[kubelet]" in pull and " 2.10s " in pull and " +30ms " in pull
    start = rows["kubelet.StartContainer"]
    assert " 85ms " in start and " +2.14s " in start
    bars = {name: row.split("|")[1] for name, row in rows.items()}
    assert len({len(b) for b in bars.values()}) == 1
    assert set(bars["k8s.CreatePod"]) == {"█"}  # the root spans the whole trace
    # StartContainer (2.14s..2.225s of 3.21s) sits in the last third of the bar.
    container = bars["kubelet.StartContainer"]
    assert container.index("█") >= len(container) * 2 // 3 - 1
    assert container.strip() and len(container.strip()) < len(container) // 4


def test_root_line_carries_key_attributes_and_outcome() -> None:
    """The root shows namespace, pod, node and outcome; plain children do not repeat them."""
    rows = _rows(format_traces(pod_startup()))
    assert rows[0].endswith("ns=default pod=web-1 node=node-1 outcome=completed")
    assert "pod=web-1" not in rows[2]


def test_traces_are_ordered_by_root_start_and_headed_by_their_id() -> None:
    """Two traces print as two blocks, earliest first, each headed by its trace id."""
    text = format_traces(pod_startup(OTHER_TRACE, offset_ms=500) + pod_startup(TRACE))
    headers = [line for line in text.splitlines() if line.startswith("trace ")]
    assert headers == [f"trace {TRACE.hex()}", f"trace {OTHER_TRACE.hex()}"]


def test_span_with_missing_parent_heads_its_own_subtree() -> None:
    """Without the root, its children print unindented, each with its own subtree."""
    without_root = [s for s in pod_startup() if s.name != "k8s.CreatePod"]
    names = [_name_column(r) for r in _rows(format_traces(without_root))]
    assert names == [
        "scheduler.SchedulePod",
        "kubelet.StartPod",
        "├─ kubelet.PullImage",
        "└─ kubelet.StartContainer",
    ]


def test_error_status_is_marked() -> None:
    """A span with ERROR status shows a cross and its message."""
    text = format_traces(
        [
            span(
                "kubelet.PullImage",
                span_id=1,
                status=StatusCode.ERROR,
                status_message="ErrImagePull",
            )
        ]
    )
    assert "✗ ErrImagePull" in text


def test_empty_input_formats_to_nothing() -> None:
    """No spans, no output."""
    assert format_traces([]) == ""


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ms"),
        (750, "750ns"),
        (850 * 1000, "850µs"),
        (1_234_000, "1.2ms"),
        (85 * MS, "85ms"),
        (999 * MS, "999ms"),
        (1_234 * MS, "1.23s"),
        (59_000 * MS, "59.00s"),
        (125_000 * MS, "2m05s"),
        (3_720_000 * MS, "1h02m"),
    ],
)
def test_durations_use_a_sensible_unit(ns: int, text: str) -> None:
    """Durations read as µs, ms, s, m or h with few digits."""
    assert format_duration(ns) == text


async def test_exporter_holds_children_until_the_root_arrives() -> None:
    """Children emitted before their root are printed together with it, as one tree."""
    stream = io.StringIO()
    exporter = ConsoleExporter(stream=stream)
    *children, root = pod_startup()
    assert await exporter.export(children) is ExportResult.SUCCESS
    assert stream.getvalue() == ""
    await exporter.export([root])
    assert stream.getvalue() == format_traces(pod_startup()) + "\n"


async def test_exporter_prints_held_spans_at_shutdown() -> None:
    """A trace whose root never came is printed, as it stands, at shutdown."""
    stream = io.StringIO()
    exporter = ConsoleExporter(stream=stream)
    await exporter.export(pod_startup()[:2])
    await exporter.shutdown()
    assert "kubelet.PullImage" in stream.getvalue()


async def test_exporter_bounds_what_it_holds() -> None:
    """Past max_pending_spans the oldest held trace is printed rather than kept."""
    stream = io.StringIO()
    exporter = ConsoleExporter(stream=stream, max_pending_spans=3)
    await exporter.export(pod_startup(TRACE)[:2])
    assert stream.getvalue() == ""
    await exporter.export(pod_startup(OTHER_TRACE)[:2])
    assert TRACE.hex() in stream.getvalue() and OTHER_TRACE.hex() not in stream.getvalue()


async def test_exporter_without_holding_prints_each_batch() -> None:
    """hold_until_root=False prints every batch at once."""
    stream = io.StringIO()
    exporter = ConsoleExporter(stream=stream, hold_until_root=False)
    await exporter.export(pod_startup()[:1])
    assert "scheduler.SchedulePod" in stream.getvalue()
