"""PATCH bodies applied to plain JSON objects: JSON merge patch, JSON patch, strategic merge.

- `application/merge-patch+json` (RFC 7386): maps merge, `null` deletes, anything else replaces.
- `application/json-patch+json` (RFC 6902): add, remove, replace, move, copy, test.
- `application/strategic-merge-patch+json`: a merge patch whose lists of objects merge by
  their Kubernetes merge key (`name` for containers, env, volumes, ...; `type` for
  conditions) and honour `$patch: delete` / `$patch: replace`; other `$` directives
  (`$setElementOrder`, `$retainKeys`, `$deleteFromPrimitiveList`) are dropped. That covers
  what kubectl sends (`set image`, `rollout restart`, `label`, `annotate`, `edit`).

Errors are `PatchError`s: `malformed` ones are the client's fault in the document itself
(400), others are a patch that does not apply to this object (422), as on the real server.
"""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC)

_MERGE_KEYS = ("name", "type", "containerPort", "mountPath", "devicePath", "ip", "topologyKey")


class PatchError(Exception):
    """A patch that cannot be applied; `malformed` means the document itself is wrong."""

    def __init__(self, message: str, *, malformed: bool = False) -> None:
        super().__init__(message)
        self.malformed = malformed


def apply_patch(target: dict[str, Any], patch: Any, *, patch_type: str) -> dict[str, Any]:
    """The patched object (a new dict; `target` is left untouched)."""
    if patch_type == JSON_PATCH:
        return json_patch(target, patch)
    if not isinstance(patch, dict):
        raise PatchError("patch body must be a JSON object", malformed=True)
    if patch_type == STRATEGIC:
        return strategic_merge_patch(target, patch)
    return merge_patch(target, patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _merge_key(items: list[Any]) -> str | None:
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    return next((key for key in _MERGE_KEYS if all(key in i for i in items)), None)


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch, simplified as the module docstring says."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder, $retainKeys, ...: ordering hints we do not need
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value)
        else:
            out[key] = strategic_merge_patch(out.get(key), value)
    return out


def _merge_list(current: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(patch)
    if key is None or not all(isinstance(i, dict) and key in i for i in current):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    merged = list(current)
    for item in patch:
        position = next((n for n, c in enumerate(merged) if c.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if position is not None:
                del merged[position]
        elif position is None:
            merged.append(strategic_merge_patch({}, item))
        else:
            merged[position] = strategic_merge_patch(merged[position], item)
    return merged


# RFC 6902


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise PatchError(f"invalid JSON pointer: {path!r}", malformed=True)
    return [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return node, parts[-1]


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise PatchError(f"doc is missing path: /{'/'.join(parts)}")


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"add operation index out of range: /{'/'.join(parts)}")
    else:
        raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent.pop(int(last))
    raise PatchError(f"unable to remove nonexistent key: /{'/'.join(parts)}")


def json_patch(target: dict[str, Any], operations: Any) -> dict[str, Any]:
    """RFC 6902, all operations or none."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations", malformed=True)
    doc: Any = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError(f"invalid JSON patch operation: {op!r}", malformed=True)
        kind, parts = op["op"], _pointer(op.get("path"))
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"{kind} operation is missing a value", malformed=True)
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if parts:
                _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(op["value"]))
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from"))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif kind == "test":
            if _get(doc, parts) != op["value"]:
                raise PatchError(f"testing value /{'/'.join(parts)} failed")
        else:
            raise PatchError(f"unexpected JSON patch operation: {kind!r}", malformed=True)
    if not isinstance(doc, dict):
        raise PatchError("the patched document is not an object")
    return doc
