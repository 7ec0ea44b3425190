"""Whole-trace sampling: keep every slow or failed lifecycle, and a ratio of the rest.

Pure functions over span records. The engine emits each lifecycle whole (its
root and all its children in one list), so the decision is taken once per
lifecycle root and its children follow it. The ratio part is decided from the
trace id alone, with the rule OpenTelemetry's `TraceIdRatioBased` sampler uses
(the low 64 bits of the id below ratio * 2^64): ids are deterministic hashes,
so every replica, a restart and a replay all make the same decision, and the
lifecycles of one trace (a rollout and the pods inside it, emitted separately)
are kept or dropped together unless one of them is slow or failed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from tracewatch.core.spans import SpanRecord

__all__ = [
    "OUTCOME_ATTRIBUTE",
    "Decision",
    "Sampled",
    "SamplingPolicy",
    "decide",
    "keeps_trace_id",
    "sample",
]

OUTCOME_ATTRIBUTE = "tracewatch.outcome"
_ID_SPACE = 1 << 64
_TRACE_ID = attrgetter("trace_id")


class Decision(enum.Enum):
    """Why a lifecycle was kept, or that it was not."""

    KEEP_SLOW = "slow"
    KEEP_OUTCOME = "outcome"
    KEEP_RATIO = "ratio"
    DROP = "drop"

    @property
    def kept(self) -> bool:
        return self is not Decision.DROP


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingPolicy:
    """ratio: share of ordinary lifecycles kept (1.0 keeps all, 0.0 none of them).
    keep_slower_than_ns: lifecycles whose root lasts longer than this are always kept.
    keep_outcomes: root `tracewatch.outcome` values that are always kept."""

    ratio: float = 1.0
    keep_slower_than_ns: int = 30_000_000_000
    keep_outcomes: frozenset[str] = frozenset({"failed", "timed_out"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"sampling ratio must be between 0 and 1, got {self.ratio}")

    @property
    def keeps_everything(self) -> bool:
        return self.ratio >= 1.0


@dataclass(frozen=True, slots=True)
class Sampled:
    """The spans to export, in their original order, and what was left out."""

    kept: list[SpanRecord]
    dropped_spans: int
    kept_trace_ids: frozenset[bytes]
    """Trace ids with at least one kept lifecycle (for exemplars that lead somewhere)."""


def keeps_trace_id(trace_id: bytes, *, ratio: float) -> bool:
    """The ratio decision for one trace id, the same on every replica."""
    if ratio >= 1.0:
        return True
    bound = round(ratio * _ID_SPACE)
    return int.from_bytes(trace_id[-8:], "big") < bound


def decide(root: SpanRecord, *, policy: SamplingPolicy) -> Decision:
    """The decision for the lifecycle whose root span is `root`."""
    if root.end_ns - root.start_ns > policy.keep_slower_than_ns:
        return Decision.KEEP_SLOW
    outcome = root.attribute(OUTCOME_ATTRIBUTE)
    if isinstance(outcome, str) and outcome in policy.keep_outcomes:
        return Decision.KEEP_OUTCOME
    if keeps_trace_id(root.trace_id, ratio=policy.ratio):
        return Decision.KEEP_RATIO
    return Decision.DROP


def sample(spans: Sequence[SpanRecord], *, policy: SamplingPolicy) -> Sampled:
    """Apply the policy to what the engine emitted in one step (one or more whole lifecycles).

    A lifecycle root is a span whose parent is not among the emitted spans of its
    trace: a trace's own root, or a lifecycle nested under an owner's trace or an
    annotation's context. A span belongs to the root it descends from; one whose
    chain is broken (it should not happen) follows the first root of its trace.
    """
    if policy.keeps_everything:
        return Sampled(list(spans), 0, frozenset(map(_TRACE_ID, spans)))
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    verdicts: dict[tuple[bytes, bytes], bool] = {}
    first_root: dict[bytes, bool] = {}
    for s in spans:
        if (s.trace_id, s.parent_span_id) not in by_id:
            keep = decide(s, policy=policy).kept
            verdicts[(s.trace_id, s.span_id)] = keep
            first_root.setdefault(s.trace_id, keep)
    kept: list[SpanRecord] = []
    kept_traces: set[bytes] = set()
    for s in spans:
        if _verdict(s, by_id, verdicts, first_root):
            kept.append(s)
            kept_traces.add(s.trace_id)
    return Sampled(kept, len(spans) - len(kept), frozenset(kept_traces))


def _verdict(
    span: SpanRecord,
    by_id: dict[tuple[bytes, bytes], SpanRecord],
    verdicts: dict[tuple[bytes, bytes], bool],
    first_root: dict[bytes, bool],
) -> bool:
    chain: list[tuple[bytes, bytes]] = []
    current: SpanRecord | None = span
    verdict: bool | None = None
    while current is not None:
        key = (current.trace_id, current.span_id)
        if key in verdicts:
            verdict = verdicts[key]
            break
        if key in chain:  # a cycle: malformed input, decide by the trace
            break
        chain.append(key)
        current = by_id.get((current.trace_id, current.parent_span_id))
    if verdict is None:
        verdict = first_root.get(span.trace_id, True)
    for key in chain:  # memoise the walk: each span is visited about once
        verdicts[key] = verdict
    return verdict
