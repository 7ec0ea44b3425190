"""Server-side Table output: what a GET, list or watch answers when the client asks for a Table.

kubectl asks for `Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...` and
prints the server's columns. Like kube-apiserver (`endpoints/handlers/response.go`,
`asTable`), the answer is a `meta.k8s.io` Table whose rows carry the printer's
cells (`tracewatch.sim.table_columns`) and, per `?includeObject=` (default
Metadata), the object's PartialObjectMetadata, the whole object, or null. A list's Table
keeps the list's resourceVersion and continue token; one object's Table its
resourceVersion. A watch sends one single-row Table per event, and only the
stream's first event carries the columnDefinitions (the watch encoder sets
NoHeaders after encoding it); an ERROR event's Status is sent unchanged.

Requests without a Table in Accept never reach this module's encoders: the
plain JSON paths serve the stored bytes exactly as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tracewatch.sim.errors import bad_request
from tracewatch.sim.resources import ResourceInfo
from tracewatch.sim.table_columns import PRINTERS, Printer
from tracewatch.sim.timestamps import now_ns

_GROUP = "meta.k8s.io"
_VERSIONS = frozenset({"v1", "v1beta1"})
_JSON_TYPES = frozenset({"application/json", "application/*", "*/*"})
_INCLUDE_OBJECT = ("Metadata", "None", "Object")
"""TableOptions.includeObject values, sorted as the validation message lists them."""


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str]]]:
    ranges = []
    for clause in accept.split(","):
        media, *params = (part.strip() for part in clause.split(";"))
        options = {}
        for param in params:
            key, _, value = param.partition("=")
            options[key.strip()] = value.strip()
        ranges.append((media.lower(), options))
    return ranges


def table_version(accept: str) -> str | None:
    """The Table apiVersion the Accept header asks for first, or None for plain JSON.

    Media ranges are taken in order; one naming another conversion (`as=...`) the
    simulator does not serve is skipped, as the real negotiation skips what it cannot
    produce. A Table for a JSON range is served; a plain JSON range first means none.
    """
    if "as=Table" not in accept:
        return None  # the plain-JSON fast path: no parsing
    for media, options in _media_ranges(accept):
        if media not in _JSON_TYPES:
            continue
        conversion = options.get("as")
        if conversion is None:
            return None
        if conversion == "Table" and options.get("g") == _GROUP and options.get("v") in _VERSIONS:
            return f"{_GROUP}/{options['v']}"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class TableFormat:
    """How to answer one request as a Table: its apiVersion, includeObject and the printer."""

    api_version: str
    include_object: str
    info: ResourceInfo
    printer: Printer

    def list_body(self, body: bytes) -> bytes:
        """A List response (as `Registry.list_body` writes it) as a Table with every row."""
        listed = orjson.loads(body)
        now = now_ns()
        prefix = {"kind": self.info.kind, "apiVersion": self.info.api_version}
        rows = [self._row({**prefix, **item}, now) for item in listed["items"]]
        return self._encode(listed["metadata"], rows, headers=True)

    def object_body(self, data: bytes) -> bytes:
        """One stored object as a one-row Table carrying its resourceVersion."""
        return self.object_table(orjson.loads(data), headers=True, now=now_ns())

    def watch(self) -> TableWatch:
        return TableWatch(self)

    def object_table(self, obj: dict[str, Any], *, headers: bool, now: int) -> bytes:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        return self._encode({"resourceVersion": rv} if rv else {}, [self._row(obj, now)], headers)

    def _row(self, obj: dict[str, Any], now: int) -> dict[str, Any]:
        cells, conditions = self.printer.row(obj, now)
        row: dict[str, Any] = {"cells": cells}
        if conditions:
            row["conditions"] = conditions
        if self.include_object == "Object":
            row["object"] = obj
        elif self.include_object == "None":
            row["object"] = None
        else:
            row["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": self.api_version,
                "metadata": obj.get("metadata") or {},
            }
        return row

    def _encode(self, metadata: Mapping[str, Any], rows: list[Any], headers: bool) -> bytes:
        columns = [c.definition() for c in self.printer.columns] if headers else None
        return orjson.dumps(
            {
                "kind": "Table",
                "apiVersion": self.api_version,
                "metadata": metadata,
                "columnDefinitions": columns,
                "rows": rows,
            }
        )


class TableWatch:
    """Re-encodes one watch stream's lines as Table events; only the first carries columns."""

    def __init__(self, table: TableFormat) -> None:
        self._table = table
        self._headers = True

    def chunk(self, chunk: bytes) -> bytes:
        """The same events, each object replaced by its one-row Table (Status left alone)."""
        now = now_ns()
        out = []
        for line in chunk.splitlines():
            if not line:
                continue
            event = orjson.loads(line)
            obj = event.get("object") or {}
            if obj.get("kind") != "Status":
                table = self._table.object_table(obj, headers=self._headers, now=now)
                event["object"] = orjson.Fragment(table)
            # The real encoder turns headers off after the first event, whatever it was.
            self._headers = False
            out.append(orjson.dumps(event) + b"\n")
        return b"".join(out)


def requested_table(
    *, accept: str, query: Mapping[str, str], info: ResourceInfo
) -> TableFormat | None:
    """The Table this request asks for, or None; 400 for an unknown `includeObject`."""
    api_version = table_version(accept)
    if api_version is None:
        return None
    printer = PRINTERS.get(info.name)
    if printer is None:
        return None
    include = query.get("includeObject", "") or "Metadata"
    if include not in _INCLUDE_OBJECT:
        supported = ", ".join(f'"{v}"' for v in _INCLUDE_OBJECT)
        raise bad_request(
            "Unable to convert to Table as requested: includeObject: Unsupported value: "
            f'"{include}": supported values: {supported}'
        )
    return TableFormat(api_version=api_version, include_object=include, info=info, printer=printer)
