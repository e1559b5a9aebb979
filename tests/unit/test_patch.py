"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

from typing import Any

import pytest

from rayop.runtime.patch import MalformedPatch, PatchFailed, json_patch, merge_patch


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # The examples of RFC 7386, appendix A.
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_rfc_examples(target: Any, patch: Any, expected: Any) -> None:
    assert merge_patch(target, patch) == expected


def test_merge_patch_leaves_its_arguments_alone() -> None:
    target = {"spec": {"a": 1, "b": {"c": 2}}}
    patch = {"spec": {"b": {"c": None}}}
    result = merge_patch(target, patch)
    assert result == {"spec": {"a": 1, "b": {}}}
    assert target == {"spec": {"a": 1, "b": {"c": 2}}}
    assert patch == {"spec": {"b": {"c": None}}}


DOC = {"foo": "bar", "baz": ["qux", "quux"], "a/b": 1, "m~n": 2, "obj": {"x": 1}}


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"op": "add", "path": "/new", "value": 1}], {**DOC, "new": 1}),
        ([{"op": "add", "path": "/baz/1", "value": "mid"}],
         {**DOC, "baz": ["qux", "mid", "quux"]}),
        ([{"op": "add", "path": "/baz/-", "value": "end"}],
         {**DOC, "baz": ["qux", "quux", "end"]}),
        ([{"op": "remove", "path": "/baz/0"}], {**DOC, "baz": ["quux"]}),
        ([{"op": "replace", "path": "/foo", "value": {"deep": True}}],
         {**DOC, "foo": {"deep": True}}),
        ([{"op": "move", "from": "/foo", "path": "/obj/foo"}],
         {k: v for k, v in DOC.items() if k != "foo"} | {"obj": {"x": 1, "foo": "bar"}}),
        ([{"op": "copy", "from": "/obj", "path": "/obj2"}], {**DOC, "obj2": {"x": 1}}),
        ([{"op": "replace", "path": "/a~1b", "value": 5}, {"op": "remove", "path": "/m~0n"}],
         {k: v for k, v in DOC.items() if k != "m~n"} | {"a/b": 5}),
        ([{"op": "test", "path": "/baz", "value": ["qux", "quux"]}], DOC),
        ([{"op": "test", "path": "/a~1b", "value": 1.0}], DOC),
        ([{"op": "replace", "path": "", "value": [1]}], [1]),
    ],
)
def test_json_patch_operations(ops: list[dict[str, Any]], expected: Any) -> None:
    assert json_patch(DOC, ops) == expected


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "test", "path": "/foo", "value": "other"}],
        [{"op": "test", "path": "/a~1b", "value": True}],
        [{"op": "test", "path": "/missing", "value": None}],
        [{"op": "remove", "path": "/missing"}],
        [{"op": "replace", "path": "/missing", "value": 1}],
        [{"op": "add", "path": "/baz/5", "value": 1}],
        [{"op": "add", "path": "/nope/x", "value": 1}],
        [{"op": "remove", "path": "/baz/01"}],
        [{"op": "move", "from": "/obj", "path": "/obj/inner"}],
    ],
)
def test_json_patch_that_does_not_apply_fails(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchFailed):
        json_patch(DOC, ops)


@pytest.mark.parametrize(
    "ops",
    [
        {"op": "add"},
        [{"op": "frobnicate", "path": "/foo"}],
        [{"op": "add", "value": 1}],
        [{"op": "add", "path": "foo", "value": 1}],
        [{"op": "copy", "path": "/x"}],
        ["not an object"],
    ],
)
def test_malformed_json_patch(ops: Any) -> None:
    with pytest.raises(MalformedPatch):
        json_patch(DOC, ops)


def test_json_patch_is_atomic_and_pure() -> None:
    doc = {"a": [1, 2]}
    with pytest.raises(PatchFailed):
        json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3},
                         {"op": "test", "path": "/a/0", "value": 9}])
    assert doc == {"a": [1, 2]}
    value = {"v": 1}
    result = json_patch(doc, [{"op": "add", "path": "/b", "value": value}])
    value["v"] = 2
    assert result["b"] == {"v": 1}
