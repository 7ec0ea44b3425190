"""Record what the informers observe to a JSONL capture, and replay a capture through the core.

A capture line is `{"observedAt": "<RFC 3339 UTC, ns>", "type": "ADDED|MODIFIED|DELETED",
"object": {...}}` with the object exactly as the API server sent it.
"""

from tracewatch.capture.lines import CaptureLine, format_observed_at, parse_capture_line
from tracewatch.capture.recording import CaptureWriter, run_record
from tracewatch.capture.replay import ReplaySummary, replay_capture, run_replay

__all__ = [
    "CaptureLine",
    "CaptureWriter",
    "ReplaySummary",
    "format_observed_at",
    "parse_capture_line",
    "replay_capture",
    "run_record",
    "run_replay",
]
