"""labelSelector and fieldSelector: parsed once per request, matched against a per-write view."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracewatch.sim.errors import ApiError, bad_request
from tracewatch.sim.resources import ResourceInfo

_SET_REQUIREMENT = re.compile(r"^\s*([^\s!=()]+)\s+(in|notin)\s+\((.*)\)\s*$")
_EQUALITY = re.compile(r"^\s*([^\s!=()]+)\s*(==|!=|=)\s*([^\s,()]*)\s*$")
_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=()]+)\s*$")
_FIELD_ALIASES = {"source": "source.component"}


class Selectable:
    """What selectors read: the labels and the resource's indexed field values, as strings."""

    __slots__ = ("fields", "labels")

    def __init__(self, *, labels: dict[str, str], fields: dict[str, str]) -> None:
        self.labels = labels
        self.fields = fields


def selectable(info: ResourceInfo, obj: dict[str, Any]) -> Selectable:
    """The selector view of an object (computed once per write)."""
    paths = _FIELD_PATHS.get(info.field_labels)
    if paths is None:
        paths = _FIELD_PATHS[info.field_labels] = tuple(
            (path, parts[0], parts[1] if len(parts) > 1 else None, parts[2:])
            for path in info.field_labels
            for parts in [_PATH_PARTS.get(path) or _parts(path)]
        )
    fields: dict[str, str] = {}
    for path, first, second, rest in paths:
        # field_value inlined (with the usual two-part path unrolled): this runs for every
        # field label on every write.
        node: Any = obj.get(first)
        if second is not None:
            if node.__class__ is dict or isinstance(node, dict):
                node = node.get(second)
                for part in rest:
                    if node.__class__ is not dict and not isinstance(node, dict):
                        node = None
                        break
                    node = node.get(part)
            else:
                node = None
        if node.__class__ is str:
            fields[path] = node
        elif node is None:
            fields[path] = ""
        elif isinstance(node, bool):
            fields[path] = "true" if node else "false"
        else:
            fields[path] = str(node)
    return Selectable(labels=obj["metadata"].get("labels") or {}, fields=fields)


_FIELD_PATHS: dict[tuple[str, ...], tuple[tuple[str, str, str | None, tuple[str, ...]], ...]] = {}


Predicate = Callable[[Selectable], bool]


@dataclass(frozen=True, slots=True)
class Selector:
    """A conjunction of requirements; the empty selector matches everything."""

    predicates: tuple[Predicate, ...] = ()

    def matches(self, view: Selectable) -> bool:
        return all(p(view) for p in self.predicates)

    @property
    def empty(self) -> bool:
        return not self.predicates


def _split_requirements(text: str) -> list[str]:
    """Split on commas that are not inside an `in (...)` value list."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _label_requirement(text: str) -> Predicate:
    if m := _SET_REQUIREMENT.match(text):
        key, op, raw = m.group(1), m.group(2), m.group(3)
        values = frozenset(v.strip() for v in raw.split(",") if v.strip())
        if op == "in":
            return lambda o: o.labels.get(key) in values
        return lambda o: o.labels.get(key) not in values
    if m := _EQUALITY.match(text):
        key, op, value = m.group(1), m.group(2), m.group(3)
        if op == "!=":
            return lambda o: o.labels.get(key) != value
        return lambda o: o.labels.get(key) == value
    if m := _EXISTS.match(text):
        negate, key = m.group(1) == "!", m.group(2)
        if negate:
            return lambda o: key not in o.labels
        return lambda o: key in o.labels
    raise bad_request(f"unable to parse requirement: {text.strip()!r}")


_OPERATOR_FORMS: dict[str, Callable[[str, str], str]] = {
    "In": lambda key, values: f"{key} in ({values})",
    "NotIn": lambda key, values: f"{key} notin ({values})",
    "Exists": lambda key, _: key,
    "DoesNotExist": lambda key, _: f"!{key}",
}


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector as `LabelSelectorAsSelector(s).String()` renders it: requirements
    sorted by key, values sorted; "" for none. ValueError for an operator it does not know
    (the Go conversion fails there)."""
    if not selector:
        return ""
    requirements = [
        (key, f"{key}={value}") for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or ():
        key, operator = expression.get("key", ""), expression.get("operator", "")
        form = _OPERATOR_FORMS.get(operator)
        if form is None:
            raise ValueError(f"{operator!r} is not a valid label selector operator")
        requirements.append((key, form(key, ",".join(sorted(expression.get("values") or ())))))
    requirements.sort(key=lambda requirement: requirement[0])
    return ",".join(text for _, text in requirements)


def parse_label_selector(text: str | None) -> Selector:
    """Equality- and set-based label selectors (`a=b,c!=d,e in (f,g),!h`)."""
    if not text:
        return Selector()
    return Selector(tuple(_label_requirement(part) for part in _split_requirements(text)))


def _parts(path: str) -> tuple[str, ...]:
    parts = _PATH_PARTS[path] = tuple(_FIELD_ALIASES.get(path, path).split("."))
    return parts


_PATH_PARTS: dict[str, tuple[str, ...]] = {}
"""Field paths split once (they come from the resource table; computed on every write)."""


def field_value(obj: dict[str, Any], path: str) -> str:
    """A field as the server's field-set renders it: missing is "", booleans lower-case."""
    node: Any = obj
    for part in _PATH_PARTS.get(path) or _parts(path):
        if node.__class__ is not dict and not isinstance(node, dict):
            return ""
        node = node.get(part)
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(text: str | None, *, supported: Sequence[str], resource: str) -> Selector:
    """`=`, `==` and `!=` on the resource's supported fields; others are a 400 as on the server."""
    if not text:
        return Selector()
    predicates: list[Predicate] = []
    for part in text.split(","):
        if not part.strip():
            continue
        m = _EQUALITY.match(part)
        if m is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        path, op, value = m.group(1), m.group(2), m.group(3)
        if path not in supported:
            raise ApiError(
                code=400,
                message=f"field label not supported: {path}",
                details={"kind": resource},
            )
        predicates.append(_field_matches(path, value, equal=op != "!="))
    return Selector(tuple(predicates))


def _field_matches(path: str, value: str, *, equal: bool) -> Predicate:
    if equal:
        return lambda o: o.fields.get(path, "") == value
    return lambda o: o.fields.get(path, "") != value
