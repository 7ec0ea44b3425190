"""Protobuf wire-format primitives and the OTLP attribute encoders built on them.

The OTLP request is written straight to bytes: building upb message objects
field by field costs ~15-20 µs per span in Python, writing the wire format
with cached attribute bytes costs a few µs (see `encoding.py`). Field numbers
come from opentelemetry-proto (common/v1/common.proto, trace/v1/trace.proto);
`tests/export` checks the bytes by parsing them with the generated classes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from tracewatch.core.memo import remember
from tracewatch.core.spans import Attributes, AttributeValue

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64_MASK = (1 << 64) - 1

# Both caches are keyed by one attribute pair; cleared when they pass this size so
# a stream of unique values (pod uids) cannot grow them without bound.
_CACHE_LIMIT = 1 << 16


def _varint_slow(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Lengths below 16 KiB (nearly every field we write) come from this table; hot paths index
# it directly (`VARINTS[n] if n < 16384 else varint(n)`) to save a call.
VARINTS: tuple[bytes, ...] = tuple(_varint_slow(i) for i in range(1 << 14))


def varint(value: int) -> bytes:
    """Encode a non-negative int as a protobuf varint."""
    if value < 16384:
        return VARINTS[value]
    return _varint_slow(value)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field: tag, length, payload."""
    n = len(payload)
    return tag + (VARINTS[n] if n < 16384 else _varint_slow(n)) + payload


def string_field(tag: bytes, text: str) -> bytes:
    return length_delimited(tag, text.encode())


FIXED64 = struct.Struct("<Q")
DOUBLE = struct.Struct("<d")

# --- AnyValue (common.proto): 1 string, 2 bool, 3 int64, 4 double, 5 ArrayValue ---


def _any_str(value: str) -> bytes:
    return string_field(b"\x0a", value)


def _any_bool(value: bool) -> bytes:
    return b"\x10\x01" if value else b"\x10\x00"


def _any_int(value: int) -> bytes:
    if not _INT64_MIN <= value <= _INT64_MAX:
        # Outside int64: keep the digits rather than wrap around silently.
        return _any_str(str(value))
    return b"\x18" + varint(value & _UINT64_MASK)


def _any_float(value: float) -> bytes:
    return b"\x21" + DOUBLE.pack(value)


def _any_array(values: tuple[str, ...]) -> bytes:
    # ArrayValue.values is field 1, each an AnyValue holding a string.
    body = b"".join(length_delimited(b"\x0a", _any_str(str(v))) for v in values)
    return length_delimited(b"\x2a", body)


_ANY_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    str: _any_str,
    bool: _any_bool,
    int: _any_int,
    float: _any_float,
    tuple: _any_array,
}


def _cache_key(pair: tuple[str, AttributeValue]) -> object:
    # (k, True), (k, 1) and (k, 1.0) compare equal: only str/tuple values may key alone.
    value = pair[1]
    kind = type(value)
    if kind is str or kind is tuple:
        return pair
    return (pair[0], kind, value)


# KeyValue.key (field 1) by attribute name: there are few names, used over and over.
_KEY_FIELDS: dict[str, bytes] = {}


def keyvalue(pair: tuple[str, AttributeValue]) -> bytes:
    """A KeyValue message, length-prefixed, ready to follow any repeated-field tag."""
    name, value = pair
    encoder = _ANY_ENCODERS.get(type(value))
    any_value = encoder(value) if encoder is not None else _any_str(str(value))
    value_field = length_delimited(b"\x12", any_value)
    key = _KEY_FIELDS.get(name)
    if key is None:
        key = remember(_KEY_FIELDS, name, string_field(b"\x0a", name), _CACHE_LIMIT)
    return varint(len(key) + len(value_field)) + key + value_field


class KeyValueFields(dict[object, bytes]):
    """`tag + keyvalue(pair)` by attribute pair, for one field tag, filled on first use.

    Looked up with `__getitem__` (`map(fields.__getitem__, attributes)`), so a hit
    costs no Python call. Only pairs with a str or tuple value are stored under the
    pair itself: (k, True), (k, 1) and (k, 1.0) compare equal but encode differently,
    so other values are cached under `_cache_key` and reach `__missing__` each time.
    """

    __slots__ = ("_tag", "_typed")

    def __init__(self, tag: bytes) -> None:
        super().__init__()
        self._tag = tag
        self._typed: dict[object, bytes] = {}

    def __missing__(self, pair: tuple[str, AttributeValue]) -> bytes:
        key = _cache_key(pair)
        if key is pair:
            return remember(self, pair, self._tag + keyvalue(pair), _CACHE_LIMIT)
        encoded = self._typed.get(key)
        if encoded is None:
            encoded = remember(self._typed, key, self._tag + keyvalue(pair), _CACHE_LIMIT)
        return encoded


# One cache per field tag (span, event, link and resource attributes differ only there).
_FIELD_CACHES: dict[bytes, KeyValueFields] = {}


def keyvalue_fields(tag: bytes) -> KeyValueFields:
    """The shared `KeyValueFields` for `tag`."""
    fields = _FIELD_CACHES.get(tag)
    if fields is None:
        fields = _FIELD_CACHES[tag] = KeyValueFields(tag)
    return fields


def attributes_field(tag: bytes, attributes: Attributes) -> bytes:
    """All attributes as repeated KeyValue fields with the given tag."""
    return b"".join(map(keyvalue_fields(tag).__getitem__, attributes))


# --- The same values in the OTLP/JSON mapping (kept beside the binary one) ---


def _json_float(value: float) -> object:
    if math.isfinite(value):
        return value
    # proto3 JSON spells non-finite doubles as strings.
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def _json_any(value: AttributeValue) -> dict[str, object]:
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if kind is float:
        return {"doubleValue": _json_float(value)}  # type: ignore[arg-type]
    if kind is tuple:
        values = [{"stringValue": str(v)} for v in value]  # type: ignore[union-attr]
        return {"arrayValue": {"values": values} if values else {}}
    return {"stringValue": str(value)}


_JSON_KV_CACHE: dict[object, dict[str, object]] = {}


def json_keyvalue(pair: tuple[str, AttributeValue]) -> dict[str, object]:
    """A KeyValue in the OTLP/JSON mapping; shared objects, never mutate them."""
    key = _cache_key(pair)
    cached = _JSON_KV_CACHE.get(key)
    if cached is not None:
        return cached
    encoded: dict[str, object] = {"key": pair[0], "value": _json_any(pair[1])}
    return remember(_JSON_KV_CACHE, key, encoded, _CACHE_LIMIT)


def json_attributes(attributes: Attributes) -> list[dict[str, object]]:
    return [json_keyvalue(pair) for pair in attributes]
