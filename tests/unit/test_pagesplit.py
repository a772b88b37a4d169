"""Cutting a list page into its operations without decoding them.

The rule under test: :func:`split_page` either gives exactly what decoding the page whole
gives (every name, every operation's JSON, every other field of the page) or declines
with ``None``, never something else; and it does not decline the pages Earth Engine sends.
"""

from __future__ import annotations

import json
import pickle
import random
from dataclasses import fields, replace
from typing import Any

import pytest

import eemw
from eemw._lazyops import lazy_operation, listed_operation
from eemw._names import first_invalid_name, is_operation_name
from eemw._pagesplit import OPERATION_PREFIX, SplitPage, operation_json, split_page


def wire(i: int, stages: int = 2) -> dict[str, Any]:
    """An operation shaped as Earth Engine sends it: ``name`` first, nested arrays of objects."""
    op: dict[str, Any] = {
        "name": f"projects/demo/operations/OP{i:06d}",
        "metadata": {
            "@type": "type.googleapis.com/google.earthengine.v1.OperationMetadata",
            "state": "SUCCEEDED" if i % 2 else "RUNNING",
            "description": f"export \u00e9t\u00e9 {i}",
            "createTime": "2024-05-01T10:00:00.123Z",
            "scriptUri": "https://code.earthengine.google.com/?scriptPath\u003dusers/a",
            "stages": [{"displayName": f"stage {s}", "completeWorkUnits": s}
                       for s in range(stages)],
            "destinationUris": [f"https://drive.google.com/#folders/{i}"],
            "progress": 0.5,
        },
    }
    if i % 2:
        op["done"] = True
        op["response"] = {"@type": "type.googleapis.com/google.protobuf.Empty"}
    return op


def page(ops: list[dict[str, Any]], **rest: Any) -> dict[str, Any]:
    return {"operations": ops, **rest}


def dumps(value: object, style: str) -> bytes:
    if style == "compact":
        return json.dumps(value, separators=(",", ":")).encode()
    if style == "pretty":  # Google's own formatting: two-space indents
        return json.dumps(value, indent=2, ensure_ascii=False).encode()
    return json.dumps(value).encode()


def assert_same_as_decoding(body: bytes) -> SplitPage | None:
    """``split_page(body)`` is None or agrees with ``json.loads(body)`` in every detail."""
    split = split_page(body)
    if split is None:
        return None
    whole = json.loads(body)
    ops = whole.pop("operations")
    assert split.rest == whole
    assert split.names == [op["name"] for op in ops]
    decoded = [operation_json(n, p) for n, p in zip(split.names, split.pieces, strict=True)]
    assert decoded == ops
    return split


class TestPagesEarthEngineSends:
    @pytest.mark.parametrize("style", ["compact", "spaced", "pretty"])
    def test_a_page_is_cut_into_exactly_its_operations(self, style: str) -> None:
        body = dumps(page([wire(i) for i in range(50)], nextPageToken="tok"), style)
        split = assert_same_as_decoding(body)
        assert split is not None, "an Earth Engine page must not fall back to a full decode"
        assert len(split.names) == 50
        assert split.rest == {"nextPageToken": "tok"}

    @pytest.mark.parametrize("style", ["compact", "pretty"])
    def test_other_page_fields_in_any_order_are_kept(self, style: str) -> None:
        body = dumps({"nextPageToken": "t", "operations": [wire(1), wire(2)],
                      "unreachable": ["projects/x"]}, style)
        split = assert_same_as_decoding(body)
        assert split is not None
        assert split.rest == {"nextPageToken": "t", "unreachable": ["projects/x"]}

    def test_a_single_operation_page(self) -> None:
        assert assert_same_as_decoding(dumps(page([wire(7, stages=0)]), "compact")) is not None

    def test_a_response_that_holds_a_name_is_cut_too(self) -> None:
        ops = [wire(1), wire(2)]
        ops[1]["response"] = {"name": "projects/demo/assets/x", "id": "x"}
        assert assert_same_as_decoding(dumps(page(ops), "compact")) is not None


class TestPagesItDeclines:
    """Each of these is decoded whole by the caller: correct, only slower."""

    @pytest.mark.parametrize("case", [
        "brace in a string", "escaped quote", "escaped backslash", "name not first",
        "an operation without a name", "a nested array of named objects",
        "a nested array whose second object is named", "a value that is not an object",
        "the operations key twice", "empty", "no operations",
        "not json", "utf-16", "a missed boundary made up for by a later array",
        "a value that is not an object made up for by a later array",
        "the operations key twice, once escaped",
    ])
    def test_declines(self, case: str) -> None:
        ops = [wire(1), wire(2), wire(3)]
        body: bytes | None = None
        if case == "brace in a string":
            ops[1]["metadata"]["description"] = "tile {x}"
        elif case == "escaped quote":
            ops[1]["metadata"]["description"] = 'say "hi"'
        elif case == "escaped backslash":
            ops[1]["metadata"]["description"] = "C:\\tmp\\"
        elif case == "name not first":
            ops[1] = {"done": True, **ops[1]}
        elif case == "an operation without a name":
            del ops[1]["name"]
        elif case == "a nested array of named objects":
            ops[1]["response"] = {"items": [{"name": "a"}, {"name": "b"}]}
        elif case == "a nested array whose second object is named":
            ops[1]["response"] = {"items": [{"k": 1}, {"name": "b"}]}
        elif case == "a value that is not an object":
            ops.append(5)  # type: ignore[arg-type]
        elif case == "the operations key twice":
            body = dumps(page(ops), "compact")[:-1] + b',"operations":[]}'
        elif case == "empty":
            body = b'{"operations":[]}'
        elif case == "no operations":
            body = b"{}"
        elif case == "not json":
            body = dumps(page(ops), "compact")[:-1]
        elif case == "utf-16":
            body = json.dumps(page(ops)).encode("utf-16")
        elif case == "a missed boundary made up for by a later array":
            ops[1] = {"done": True, **ops[1]}
            body = dumps(page(ops, unreachable=[{"k": 1}, {"name": "projects/demo/operations/C"}]),
                         "compact")
        elif case == "a value that is not an object made up for by a later array":
            body = dumps({"operations": [wire(1), []],
                          "x": [{"k": 1}, {"name": "projects/demo/operations/C"}]}, "compact")
        elif case == "the operations key twice, once escaped":
            body = dumps(page(ops), "compact")[:-1] + b',"operation\\u0073":[]}'
        assert split_page(body if body is not None else dumps(page(ops), "compact")) is None


def random_string(rng: random.Random) -> str:
    alphabet = 'ab {}[]",:\\/\u00e9\n\t' + "},{\"name\":\""
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return random_string(rng)
    if kind == 1:
        return rng.choice([0, -1, 2.5, True, False, None])
    if kind == 2:
        return rng.choice(["projects/demo/operations/X", "plain", "name"])
    if kind == 3:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))]
    keys = ["name", "k", "done", "@type", random_string(rng)]
    return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}


def random_page(rng: random.Random) -> bytes:
    ops: list[Any] = []
    for i in range(rng.randrange(0, 6)):
        op: dict[str, Any] = {"name": f"projects/demo/operations/R{i}"}
        if rng.random() < 0.1:
            op = {"done": True, **op} if rng.random() < 0.5 else {"done": True}
        for key in rng.sample(["metadata", "done", "error", "response"], rng.randrange(0, 4)):
            op[key] = random_value(rng, 1)
        ops.append(op)
    rest: dict[str, Any] = {}
    if rng.random() < 0.5:
        rest["nextPageToken"] = random_string(rng)
    if rng.random() < 0.3:  # page-level arrays of objects, some of them named, after the array
        rest["unreachable"] = [random_value(rng, 2) for _ in range(rng.randrange(0, 3))]
        rest["unreachable"].append({"name": f"projects/demo/operations/U{len(ops)}"})
    body = dumps(page(ops, **rest), rng.choice(["compact", "spaced", "pretty"]))
    if rng.random() < 0.1:  # a second operations key, its name escaped
        body = body.rstrip()[:-1] + b', "operation\\u0073": []}'
    return body


def test_random_pages_are_cut_exactly_or_declined() -> None:
    rng = random.Random(20261204)
    cut = 0
    for _ in range(3000):
        if assert_same_as_decoding(random_page(rng)) is not None:
            cut += 1
    assert cut > 150  # the plain ones among them were cut, not all declined


class TestListedOperations:
    def test_equal_to_the_parsed_operation_in_every_field(self) -> None:
        for i in range(4):
            data = wire(i)
            body = dumps(page([data]), "compact")
            split = split_page(body)
            assert split is not None
            op = listed_operation(split.names[0], split.pieces[0])
            parsed = eemw.Operation.from_wire(data)
            assert op == parsed and hash(op) == hash(parsed) and repr(op) == repr(parsed)
            for f in fields(eemw.Operation):
                assert getattr(op, f.name) == getattr(parsed, f.name)
            assert pickle.loads(pickle.dumps(op)) == parsed
            assert replace(op, done=False).done is False

    @pytest.mark.parametrize("wire_op", [
        {"metadata": {"state": "RUNNING"}},
        {"metadata": {"state": "NOT_A_STATE"}, "done": True},
        {"metadata": {"state": "SUCCEEDED"}, "done": False},
        {"done": True},
        {"done": True, "error": {"code": 1}},
        {"done": True, "error": {"code": 3, "message": "x"}},
        {"metadata": "not an object", "done": True, "error": {"code": 1}},
        {"metadata": {}, "done": True, "response": {}},
    ])
    def test_the_state_read_alone_is_the_parsed_operations(self, wire_op: dict[str, Any]) -> None:
        data = {"name": "projects/demo/operations/S", **wire_op}
        split = split_page(dumps(page([data]), "compact"))
        assert split is not None
        parsed = eemw.Operation.from_wire(data)
        for op in (listed_operation(split.names[0], split.pieces[0]), lazy_operation(dict(data))):
            assert op.state is parsed.state
            assert op.metadata == parsed.metadata and op.state is parsed.state

    def test_each_field_is_built_on_first_read(self) -> None:
        split = split_page(dumps(page([wire(1)]), "compact"))
        assert split is not None
        op = listed_operation(split.names[0], split.pieces[0])
        assert op.state is eemw.State.SUCCEEDED and op.done is True
        assert op.raw["metadata"]["progress"] == 0.5

    def test_corrupt_json_raises_when_a_field_is_first_read(self) -> None:
        name = "projects/demo/operations/BROKEN"
        op = listed_operation(name, b'projects/demo/operations/BROKEN","done":tru}')
        assert op.name == name  # the name was checked with the page
        with pytest.raises(eemw.MalformedResponseError, match=r"BROKEN.*not valid JSON"):
            _ = op.done
        with pytest.raises(eemw.MalformedResponseError):
            _ = op.metadata

    def test_a_second_name_key_raises_when_first_read(self) -> None:
        # A decoder lets the last of two keys win: the name checked with the page would
        # not be the one the operation holds.
        body = dumps(page([wire(1), wire(2)]), "compact").replace(
            b'"done":true', b'"done":true,"name":"projects/demo/operations/OTHER"', 1
        )
        split = split_page(body)
        assert split is not None
        op = listed_operation(split.names[0], split.pieces[0])
        assert op.name == "projects/demo/operations/OP000001"
        with pytest.raises(eemw.MalformedResponseError, match="OP000001 has a second name"):
            _ = op.raw

    def test_a_lone_surrogate_reads_as_json_loads_reads_it(self) -> None:
        body = json.dumps(page([wire(1)]), ensure_ascii=False).replace(
            "export", "\ud800export"
        ).encode("utf-8", "surrogatepass")
        assert assert_same_as_decoding(body) is not None

    def test_a_corrupt_operation_still_has_a_repr(self) -> None:
        name = "projects/demo/operations/BROKEN"
        op = listed_operation(name, name.encode() + b'",}')
        assert repr(op) == "Operation(name='projects/demo/operations/BROKEN', <not valid JSON>)"

    def test_the_prefix_makes_a_piece_its_object_again(self) -> None:
        split = split_page(dumps(page([wire(3)]), "pretty"))
        assert split is not None
        text = split.pieces[0]
        assert isinstance(text, bytes)
        assert json.loads(OPERATION_PREFIX + text + b"}") == wire(3)


class TestNamesCheckedTogether:
    @pytest.mark.parametrize("names", [
        [],
        ["projects/demo/operations/A"],
        ["projects/demo/operations/A", "projects/p/operations/B_-1"],
        ["projects/demo/operations/A", "projects/demo/operations/A\nprojects/d/operations/B"],
        ["projects/demo/operations/A", "projects/../operations/B"],
        ["projects/demo/operations/A", "projects/demo/operations/A/B"],
        ["projects/demo/operations/A", ""],
        ["projects/example.com:p/operations/A", "projects/-x/operations/B"],
    ])
    def test_agrees_with_the_one_by_one_check(self, names: list[str]) -> None:
        expected = next((i for i, n in enumerate(names) if not is_operation_name(n)), None)
        assert first_invalid_name(names) == expected
