"""The pure patch algorithms: RFC 7386 merge, RFC 6902 JSON patch, strategic merge."""

from __future__ import annotations

import pytest

from tracewatch.sim.patching import (
    JSON_PATCH,
    PatchError,
    apply_patch,
    merge_patch,
    strategic_merge_patch,
)
from tracewatch.sim.printers import format_selector
from tracewatch.sim.selectors import selector_string


def test_merge_patch_rfc7386_examples() -> None:
    """null deletes, maps merge, lists and scalars replace, the target is left untouched."""
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    patched = merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]})
    assert patched == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert target["c"] == {"d": "e", "f": "g"}


def test_json_patch_operations_and_errors() -> None:
    """add/-/remove/replace/move/copy/test, with missing paths a 422-type and bad docs malformed."""
    doc = {"spec": {"list": [1, 2], "x": 1}}
    ops = [
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "add", "path": "/spec/list/0", "value": 0},
        {"op": "remove", "path": "/spec/x"},
        {"op": "copy", "from": "/spec/list", "path": "/spec/copied"},
        {"op": "move", "from": "/spec/copied", "path": "/moved"},
        {"op": "replace", "path": "/moved/1", "value": 9},
        {"op": "test", "path": "/spec/list/3", "value": 3},
        {"op": "add", "path": "/a~1b", "value": True},
    ]
    assert apply_patch(doc, ops, patch_type=JSON_PATCH) == {
        "spec": {"list": [0, 1, 2, 3]},
        "moved": [0, 9, 2, 3],
        "a/b": True,
    }
    with pytest.raises(PatchError) as missing:
        apply_patch(doc, [{"op": "remove", "path": "/nope"}], patch_type=JSON_PATCH)
    assert not missing.value.malformed
    with pytest.raises(PatchError) as malformed:
        apply_patch(doc, {"op": "add"}, patch_type=JSON_PATCH)
    assert malformed.value.malformed


def test_strategic_merge_lists_by_merge_key_and_directives() -> None:
    """Containers merge by name, conditions by type; $patch delete/replace; $ hints dropped."""
    target = {
        "containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}],
        "conditions": [{"type": "Ready", "status": "False"}],
        "args": ["x"],
    }
    patch = {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b", "image": "2"}, {"name": "a", "$patch": "delete"}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
        "args": ["y"],
    }
    assert strategic_merge_patch(target, patch) == {
        "containers": [{"name": "b", "image": "2"}],
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "New", "status": "True"}],
        "args": ["y"],
    }
    assert strategic_merge_patch({"m": {"a": 1}}, {"m": {"$patch": "replace", "b": 2}}) == {
        "m": {"b": 2}
    }


def test_label_selector_string_form() -> None:
    """Scale.status.selector renders requirements sorted by key, as labels.Selector.String()."""
    selector = {
        "matchLabels": {"tier": "web", "app": "shop"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == "app=shop,env in (canary,prod),!legacy,tier=web"
    assert selector_string(None) == ""


def test_label_selector_with_an_unknown_operator_cannot_be_rendered() -> None:
    """LabelSelectorAsSelector fails on an unknown operator; FormatLabelSelector says <error>."""
    selector = {"matchExpressions": [{"key": "env", "operator": "Near", "values": ["prod"]}]}
    with pytest.raises(ValueError, match="Near"):
        selector_string(selector)
    assert format_selector(selector) == "<error>"
    assert format_selector({}) == "<none>"
