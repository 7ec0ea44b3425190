"""Server timestamp parsing and time fusion."""

from __future__ import annotations

import pytest

from tracewatch.core.clock import (
    SECOND_NS,
    event_instant,
    format_timestamp_ns,
    fuse,
    parse_timestamp_ns,
)
from tracewatch.core.snapshots import Event, ObjectMeta
from tracewatch.core.spans import TimeSource

T = 1_561_438_512 * SECOND_NS  # 2019-06-25T04:55:12Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-06-25T04:55:12Z", T),
        ("2019-06-25T04:55:12.123456Z", T + 123_456_000),
        ("2019-06-25T04:55:12.123456789Z", T + 123_456_789),
        ("2019-06-25T06:55:12+02:00", T),
        ("2019-06-25T04:55:12.5+00:00", T + 500_000_000),
        ("2019-06-25T06:55:12.123456789+02:00", T + 123_456_789),
    ],
)
def test_parses_api_time_forms(text: str, expected: int) -> None:
    """Time, MicroTime and offset forms all parse to the same epoch nanoseconds."""
    assert parse_timestamp_ns(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "yesterday",
        "2019-06-25T04:55:12",
        "2019-13-25T04:55:12Z",
        "2019-06-25T04:55:12.xZ",
    ],
)
def test_rejects_garbage_and_naive_times(text: str | None) -> None:
    """Anything that is not an unambiguous RFC 3339 instant gives None, never an exception."""
    assert parse_timestamp_ns(text) is None


def test_repeated_whole_seconds_parse_the_same_every_time() -> None:
    """A whole-second time answered from the memo equals its first, computed parse."""
    texts = [format_timestamp_ns(T + i * 61 * SECOND_NS)[:19] + "Z" for i in range(50)]
    first = [parse_timestamp_ns(text) for text in texts]
    assert first == [T + i * 61 * SECOND_NS for i in range(50)]
    assert [parse_timestamp_ns(text) for text in texts] == first
    assert parse_timestamp_ns("2019-13-25T04:55:12Z") is None  # no memo for a non-time
    assert parse_timestamp_ns("2019-13-25T04:55:12Z") is None


def test_format_round_trips() -> None:
    """format_timestamp_ns writes RFC 3339 with nanoseconds that parses back exactly."""
    assert format_timestamp_ns(T + 7) == "2019-06-25T04:55:12.000000007Z"
    assert parse_timestamp_ns(format_timestamp_ns(T + 123_456_789)) == T + 123_456_789
    assert format_timestamp_ns(T + 123_456_789, digits=6) == "2019-06-25T04:55:12.123456Z"


def test_fuse_live_receipt_inside_the_second() -> None:
    """A receipt inside the server timestamp's second is the estimate (source watch)."""
    got = fuse(server_ns=T, observed_at_ns=T + 400_000_000)
    assert (got.ns, got.source) == (T + 400_000_000, TimeSource.WATCH)
    assert (got.earliest, got.latest) == (T, T + 400_000_000)


def test_fuse_late_receipt_falls_back_to_server_time() -> None:
    """A receipt after the second has passed means we saw it late: server time, 1 s precision."""
    got = fuse(server_ns=T, observed_at_ns=T + 5 * SECOND_NS)
    assert (got.ns, got.source) == (T, TimeSource.SERVER)
    assert (got.earliest, got.latest) == (T, T + SECOND_NS - 1)


def test_fuse_receipt_just_after_the_second_is_clamped_into_it() -> None:
    """A transition late in its second, received a few ms into the next, is still live: the
    estimate is the second's last instant, not its start."""
    got = fuse(server_ns=T, observed_at_ns=T + SECOND_NS + 3_000_000)
    assert (got.ns, got.source) == (T + SECOND_NS - 1, TimeSource.WATCH)
    assert (got.earliest, got.latest) == (T, T + SECOND_NS - 1)


def test_fuse_never_earlier_than_the_previous_observation() -> None:
    """The transition happened after the previous observation that did not show it."""
    got = fuse(server_ns=T, observed_at_ns=T + 100, previous_ns=T + 300)
    assert (got.ns, got.source) == (T + 300, TimeSource.WATCH)
    assert got.earliest == T + 300


def _legacy_event(
    name: str, *, first_ns: int | None, count: int = 1, event_time: str | None = None
) -> Event:
    first = None if first_ns is None else format_timestamp_ns(first_ns)[:19] + "Z"
    return Event(
        metadata=ObjectMeta(name=name), first_timestamp=first, count=count, event_time=event_time
    )


def test_legacy_event_name_clock() -> None:
    """A `<object>.<hex UnixNano>` name gives ns time when inside firstTimestamp's second."""
    ns = T + 594_007_000
    got = event_instant(_legacy_event(f"web.{ns:x}", first_ns=T), observed_at_ns=T + 5 * SECOND_NS)
    assert got is not None
    assert (got.ns, got.source, got.earliest, got.latest) == (ns, TimeSource.EVENT_NAME, ns, ns)


def test_legacy_event_name_clock_at_the_edges_of_the_second() -> None:
    """The name's clock is trusted from the first ns of firstTimestamp's second to its last."""
    for ns in (T, T + SECOND_NS - 1):
        got = event_instant(_legacy_event(f"web.{ns:x}", first_ns=T), observed_at_ns=T)
        assert got is not None and (got.ns, got.source) == (ns, TimeSource.EVENT_NAME)


def test_legacy_event_name_clock_after_a_dot_among_the_last_16_characters() -> None:
    """A name whose last dot is among its last 16 characters is read after that dot."""
    # 1970: a short hex number lies in firstTimestamp's second.
    event = Event(
        metadata=ObjectMeta(name="w.123456789.123456"),
        first_timestamp="1970-01-01T00:00:00Z",
        count=1,
    )
    got = event_instant(event, observed_at_ns=5 * SECOND_NS)
    assert got is not None and (got.ns, got.source) == (0x123456, TimeSource.EVENT_NAME)


@pytest.mark.parametrize(
    ("name", "count"),
    [
        (f"web.{T + 2 * SECOND_NS:x}", 1),  # skewed clock: outside the second
        (f"web.{T - 1:x}", 1),  # just before the second
        (f"web.{T + 5:x}", 2),  # repeated event: the name is the first occurrence
        ("web.not-hex", 1),
        ("web.", 1),
        (f"web.1{T + 5:016x}", 1),  # more than 16 hex digits
        (f"{T + 5:x}", 1),  # no dot: not of this form, though all hex
    ],
)
def test_legacy_event_name_clock_guards(name: str, count: int) -> None:
    """Names out of the second, repeated events and names of another form are not trusted:
    firstTimestamp fused with the receipt is the instant instead."""
    got = event_instant(_legacy_event(name, first_ns=T, count=count), observed_at_ns=T + 300)
    assert got is not None
    assert got == fuse(server_ns=T, observed_at_ns=T + 300)
    assert got.source is TimeSource.WATCH


def test_event_without_times_has_no_instant() -> None:
    """An Event with neither eventTime nor firstTimestamp (nor a usable one) is not timed."""
    assert event_instant(_legacy_event(f"web.{T + 5:x}", first_ns=None), observed_at_ns=T) is None
    bad = Event(metadata=ObjectMeta(name=f"web.{T + 5:x}"), first_timestamp="yesterday", count=1)
    assert event_instant(bad, observed_at_ns=T) is None


def test_event_time_wins_over_the_name_clock() -> None:
    """An eventTime (microseconds) is used before the legacy name's clock and firstTimestamp."""
    event = _legacy_event(f"web.{T + 5:x}", first_ns=T, event_time="2019-06-25T04:55:12.123456Z")
    got = event_instant(event, observed_at_ns=T + 7 * SECOND_NS)
    assert got is not None and (got.ns, got.source) == (T + 123_456_000, TimeSource.EVENT_TIME)


def test_bad_event_time_falls_back_to_the_name_clock() -> None:
    """An eventTime that does not parse is ignored, not fatal: the legacy clock still applies."""
    event = _legacy_event(f"web.{T + 5:x}", first_ns=T, event_time="soon")
    got = event_instant(event, observed_at_ns=T)
    assert got is not None and (got.ns, got.source) == (T + 5, TimeSource.EVENT_NAME)
