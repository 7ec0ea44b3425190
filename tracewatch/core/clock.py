"""Server timestamps and time fusion: turning second-precision API times into precise instants.

Kubernetes object timestamps have one-second precision (true time lies in
[ts, ts + 1 s)); Event `eventTime` has microseconds; a legacy Event's name
carries the emitter's clock in nanoseconds; the watch receipt time is precise
but late. `fuse` combines them as DESIGN.md's "Time" section describes. Pure
functions, no clock reads: "now" is always an argument.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from msgspec import Struct

from tracewatch.core.memo import remember
from tracewatch.core.snapshots import Event
from tracewatch.core.spans import TimeSource

SECOND_NS = 1_000_000_000
_MEMO_LIMIT = 4096


# Epoch seconds of each "YYYY-MM-DDTHH:MM" seen (None: not a date). Timestamps of one
# minute share it, so most parses are a dict hit.
_MINUTES: dict[str, int | None] = {}


def _minute_seconds(prefix: str) -> int | None:
    try:
        secs: int | None = calendar.timegm(
            (
                int(prefix[0:4]),
                int(prefix[5:7]),
                int(prefix[8:10]),
                int(prefix[11:13]),
                int(prefix[14:16]),
                0,
            )
        )
    except ValueError:
        secs = None
    return remember(_MINUTES, prefix, secs, _MEMO_LIMIT)


# Epoch seconds of each "YYYY-MM-DDTHH:MM:SS" seen: the objects of one busy second carry the
# same few timestamps, and receipt times share their second too.
_SECONDS: dict[str, int] = {}


# ns of each whole-second "YYYY-MM-DDTHH:MM:SSZ" seen (the form of every object Time): one
# lookup answers most parses.
_WHOLE_SECONDS: dict[str, int] = {}


def parse_timestamp_ns(value: str | None) -> int | None:
    """RFC 3339 API timestamp (Time or MicroTime) to ns since the epoch; None if absent or bad."""
    if not value:
        return None
    whole = _WHOLE_SECONDS.get(value)
    if whole is not None:
        return whole
    # Fast path for the forms the API server writes: 2024-01-02T03:04:05Z and .123456Z
    if len(value) >= 20 and value[4] == "-" and value[10] == "T" and value[-1] == "Z":
        head = value[:19]
        secs = _SECONDS.get(head)
        if secs is None:
            secs = _head_seconds(head)
            if secs is None:
                return None
            remember(_SECONDS, head, secs, _MEMO_LIMIT)
        if len(value) == 20:
            return remember(_WHOLE_SECONDS, value, secs * SECOND_NS, _MEMO_LIMIT)
        frac = value[20:-1]
        if value[19] != "." or not frac.isdigit():
            return None
        return secs * SECOND_NS + int(frac[:9].ljust(9, "0"))
    return _parse_general(value)


def _head_seconds(head: str) -> int | None:
    # timegm is linear in the seconds field: the minute's start plus the seconds.
    prefix = head[:16]
    minute = _MINUTES[prefix] if prefix in _MINUTES else _minute_seconds(prefix)
    if minute is None:
        return None
    try:
        return minute + int(head[17:19])
    except ValueError:
        return None


def _parse_general(value: str) -> int | None:
    """Any RFC 3339 instant: a zone offset, 1-9 fraction digits (kept to the ns), 'T'/'t'/' '."""
    text = value.strip()
    if len(text) < 20 or text[10] not in "Tt ":
        return None
    offset_s = 0
    if text[-1] in "Zz":
        body = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        try:
            offset_s = int(text[-5:-3]) * 3600 + int(text[-2:]) * 60
        except ValueError:
            return None
        offset_s = offset_s if text[-6] == "+" else -offset_s
        body = text[:-6]
    else:
        return None  # no zone: not an instant
    whole, dot, fraction = body.partition(".")
    if len(whole) != 19 or (dot and not fraction.isdigit()):
        return None
    try:
        parsed = datetime.strptime(whole[:10] + "T" + whole[11:], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return (calendar.timegm(parsed.timetuple()) - offset_s) * SECOND_NS + nanos


def format_timestamp_ns(ns: int, *, digits: int = 9) -> str:
    """RFC 3339 UTC with `digits` fraction digits (9: ns, 6: a MicroTime), truncating."""
    secs, frac = divmod(ns, SECOND_NS)
    head = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{head}.{frac:09d}"[: 20 + digits] + "Z"


class Instant(Struct, frozen=True, gc=False):
    """A fused point in time, where it came from, and the bounds of what the data allows.

    `ns` is the estimate; the true instant lies in [earliest, latest]. Both
    default to `ns` (a precise source). Placement uses the bounds for
    causality checks ("did the owner's lifecycle start before this one?").
    A Struct outside the GC: a pod's startup keeps a dozen of them alive for seconds.
    """

    ns: int
    source: TimeSource
    low: int | None = None
    high: int | None = None

    @property
    def earliest(self) -> int:
        return self.ns if self.low is None else self.low

    @property
    def latest(self) -> int:
        return self.ns if self.high is None else self.high


# Sources as module constants for the per-observation paths (`fuse`, `event_instant`): on
# Python 3.11 `TimeSource.X` is a slow lookup (EnumType defines __getattr__), a global is not.
_WATCH, _SERVER = TimeSource.WATCH, TimeSource.SERVER
_EVENT_TIME, _EVENT_NAME = TimeSource.EVENT_TIME, TimeSource.EVENT_NAME

# A receipt this far past the end of the timestamp's second still counts as seen live: watch
# delivery takes milliseconds, so a transition in the second's last moments arrives in the next.
LIVE_SLACK_NS = 500_000_000
_LAST_NS = SECOND_NS - 1  # the last ns of a timestamp's second, from its start
_LIVE_NS = SECOND_NS + LIVE_SLACK_NS  # receipts before start + this were seen live


def fuse(*, server_ns: int, observed_at_ns: int | None, previous_ns: int | None = None) -> Instant:
    """The best estimate of when a transition stamped `server_ns` (second precision) happened.

    observed_at_ns is the receipt of the first observation showing the transition;
    previous_ns the receipt of the one before it that did not (if any). The true
    time lies in [server_ns, server_ns + 1 s) and no later than the receipt. When
    the receipt falls inside that second (or just after it, LIVE_SLACK_NS), the
    transition was seen as it happened: the receipt clamped into the second (and
    kept no earlier than the previous observation) is the estimate. Otherwise it
    happened before we looked and the server timestamp is all we have.
    """
    # Comparisons, not min()/max(): this runs for most transitions and Events, and the
    # builtin calls cost more than the arithmetic.
    end = server_ns + _LAST_NS
    if observed_at_ns is not None and server_ns <= observed_at_ns < server_ns + _LIVE_NS:
        if previous_ns is None or previous_ns <= server_ns:
            low = server_ns
        else:
            low = previous_ns if previous_ns < end else end
        estimate = observed_at_ns if observed_at_ns < end else end
        if estimate < low:
            estimate = low
        return Instant(estimate, _WATCH, low, estimate)
    high = end
    if observed_at_ns is not None and server_ns <= observed_at_ns < end:
        high = observed_at_ns
    return Instant(server_ns, _SERVER, server_ns, high)


def event_instant(event: Event, *, observed_at_ns: int) -> Instant | None:
    """When an Event happened: eventTime, else the legacy name's clock, else firstTimestamp.

    client-go's legacy recorder names each Event `<object>.<hex of UnixNano>`, after
    the time it was made. That clock is used only when it lies in the second
    firstTimestamp names (a guard against clock skew and names not of this form) and
    the Event fired once (a repeated Event keeps the name of its first occurrence).
    """
    if event.event_time:
        precise = parse_timestamp_ns(event.event_time)
        if precise is not None:
            return Instant(precise, _EVENT_TIME)
    first = parse_timestamp_ns(event.first_timestamp)
    if first is None:
        return None
    if event.count <= 1:
        name = event.metadata.name
        # The usual name ends in "." and 16 hex digits (a UnixNano since 2006): read by
        # position, inline, for most Events the trackers time; other forms go `_name_hex`.
        if len(name) > 16 and name[-17] == ".":
            try:
                named: int | None = int(name[-16:], 16)
            except ValueError:
                named = _name_hex(name)  # a dot among the last 16: the general way decides
        else:
            named = _name_hex(name)
        if named is not None and first <= named < first + SECOND_NS:
            return Instant(named, _EVENT_NAME)
    return fuse(server_ns=first, observed_at_ns=observed_at_ns)


def _name_hex(name: str) -> int | None:
    """The hex number (1 to 16 digits) after a name's last dot; None if it has none."""
    dot = name.rfind(".")
    if dot < 0 or not 1 <= len(name) - dot - 1 <= 16:
        return None
    try:
        return int(name[dot + 1 :], 16)
    except ValueError:
        return None


def server_instant(
    ts: str | None, *, observed_at_ns: int, previous_ns: int | None
) -> Instant | None:
    """A server timestamp first seen in an observation received at observed_at_ns, fused."""
    server_ns = parse_timestamp_ns(ts)
    if server_ns is None:
        return None
    return fuse(server_ns=server_ns, observed_at_ns=observed_at_ns, previous_ns=previous_ns)


def latest(*instants: Instant | None) -> Instant | None:
    """The latest of the present instants (the first of equals)."""
    found = None
    for i in instants:
        if i is not None and (found is None or i.ns > found.ns):
            found = i
    return found


_PRECISE = (TimeSource.EVENT_TIME, TimeSource.EVENT_NAME, TimeSource.WATCH)


def best(*candidates: Instant | None) -> Instant | None:
    """The first precise candidate, else the first present one."""
    first = None
    for c in candidates:
        if c is not None:
            if c.source in _PRECISE:
                return c
            if first is None:
                first = c
    return first
