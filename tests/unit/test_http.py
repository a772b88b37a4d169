"""Frozen request/response values, headers and the typed context."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import pytest

from eemw import Call, Context, ContextKey, Headers, Request, Response

NAME = "projects/demo/operations/X"
TOKEN = "ya29.SECRET-TOKEN"


class TestHeaders:
    def test_lookup_ignores_case(self) -> None:
        h = Headers({"Content-Type": "application/json"})
        assert h["content-type"] == "application/json"
        assert h["CONTENT-TYPE"] == "application/json"
        assert h.get("Content-type") == "application/json"
        assert "CoNtEnT-TyPe" in h

    def test_missing(self) -> None:
        h = Headers()
        assert h.get("x") is None
        assert h.get("x", "d") == "d"
        assert "x" not in h
        number: object = 3
        assert number not in h
        with pytest.raises(KeyError):
            h["x"]

    def test_is_a_mapping(self) -> None:
        h = Headers({"A": "1", "b": "2"})
        assert isinstance(h, Mapping)
        assert len(h) == 2
        assert dict(h) == {"a": "1", "b": "2"}

    def test_set_returns_a_copy(self) -> None:
        original = Headers({"A": "1"})
        changed = original.set("a", "2").set("B", "3")
        assert dict(changed) == {"a": "2", "b": "3"}
        assert dict(original) == {"a": "1"}

    def test_merge_returns_a_copy(self) -> None:
        original = Headers({"A": "1", "keep": "k"})
        changed = original.merge({"a": "2", "New": "n"})
        assert dict(changed) == {"a": "2", "keep": "k", "new": "n"}
        assert dict(original) == {"a": "1", "keep": "k"}

    def test_constructor_copies_its_input(self) -> None:
        source = {"A": "1"}
        h = Headers(source)
        source["A"] = "2"
        assert h["a"] == "1"

    def test_cannot_be_edited(self) -> None:
        h = Headers({"A": "1"})
        with pytest.raises(TypeError):
            h["a"] = "2"  # type: ignore[index]
        with pytest.raises(AttributeError):
            h.other = 1  # type: ignore[attr-defined]

    def test_equality_ignores_case(self) -> None:
        assert Headers({"A": "1"}) == Headers({"a": "1"})
        assert Headers({"A": "1"}) == {"a": "1"}
        assert Headers({"A": "1"}) != Headers({"A": "2"})
        assert Headers() != "x"

    def test_not_hashable(self) -> None:
        with pytest.raises(TypeError):
            hash(Headers())

    def test_repr_shows_names_never_values(self) -> None:
        h = Headers({"Authorization": f"Bearer {TOKEN}", "X-Goog-User-Project": "quota"})
        text = repr(h)
        assert "authorization" in text
        assert TOKEN not in text
        assert "quota" not in text
        assert TOKEN not in str(h)


def make_request(**changes: object) -> Request:
    request = Request(
        "POST",
        f"https://earthengine.googleapis.com/v1/{NAME}:cancel",
        Headers({"Authorization": f"Bearer {TOKEN}"}),
        Call("cancel", "demo", "v1", NAME),
        body=b"{}",
        timeout=10.0,
    )
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


KEY: ContextKey[int] = ContextKey("test.key", 7)


class TestRequest:
    def test_with_header(self) -> None:
        original = make_request()
        changed = original.with_header("X-A", "1")
        assert changed.headers["x-a"] == "1"
        assert "x-a" not in original.headers
        assert changed.headers["authorization"] == original.headers["authorization"]
        assert (changed.method, changed.url, changed.body, changed.timeout, changed.call) == (
            original.method, original.url, original.body, original.timeout, original.call
        )

    def test_with_headers(self) -> None:
        original = make_request()
        changed = original.with_headers({"X-A": "1", "Authorization": "Bearer other"})
        assert changed.headers["authorization"] == "Bearer other"
        assert original.headers["authorization"] == f"Bearer {TOKEN}"
        assert "x-a" not in original.headers

    def test_with_timeout(self) -> None:
        original = make_request()
        assert original.with_timeout(2.5).timeout == 2.5
        assert original.with_timeout(None).timeout is None
        assert original.timeout == 10.0
        assert original.with_timeout(2.5).headers == original.headers

    def test_with_context(self) -> None:
        original = make_request()
        changed = original.with_context(KEY, 1)
        assert changed.context.get(KEY) == 1
        assert original.context.get(KEY) == 7
        assert changed.body == original.body

    def test_every_with_method_keeps_the_other_fields(self) -> None:
        original = make_request().with_context(KEY, 3)
        for changed in (
            original.with_header("X-A", "1"),
            original.with_headers({"X-A": "1"}),
            original.with_timeout(1.0),
        ):
            assert changed.context.get(KEY) == 3
            assert changed.call == original.call
            assert changed.body == original.body

    def test_frozen(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            make_request().url = "https://evil.example.com"  # type: ignore[misc]

    def test_repr_has_no_secrets(self) -> None:
        request = make_request(
            url=f"https://user:pw@example.com/v1/{NAME}?access_token={TOKEN}&pageSize=5",
            body=TOKEN.encode(),
        )
        text = repr(request)
        assert TOKEN not in text
        assert "pw" not in text
        assert "pageSize=5" in text
        assert "operations.cancel" in text


class TestContext:
    def test_default(self) -> None:
        assert Context().get(KEY) == 7
        assert KEY not in Context()

    def test_set_returns_a_copy(self) -> None:
        empty = Context()
        one = empty.set(KEY, 1)
        two = one.set(KEY, 2)
        assert (empty.get(KEY), one.get(KEY), two.get(KEY)) == (7, 1, 2)
        assert KEY in one
        assert KEY not in empty

    def test_keys_compare_by_identity(self) -> None:
        mine: ContextKey[str] = ContextKey("deadline", "mine")
        theirs: ContextKey[str] = ContextKey("deadline", "theirs")
        ctx = Context().set(mine, "set")
        assert ctx.get(mine) == "set"
        assert ctx.get(theirs) == "theirs"
        assert theirs not in ctx

    def test_constructor_copies_its_input(self) -> None:
        values = {KEY: 1}
        ctx = Context(values)
        values[KEY] = 2
        assert ctx.get(KEY) == 1

    def test_set_none_is_a_value(self) -> None:
        key: ContextKey[int | None] = ContextKey("opt", 5)
        assert Context().set(key, None).get(key) is None

    def test_repr_shows_key_names_only(self) -> None:
        secret: ContextKey[str] = ContextKey("token", "")
        text = repr(Context().set(secret, TOKEN))
        assert "token" in text
        assert TOKEN not in text

    def test_key_repr(self) -> None:
        assert repr(KEY) == "ContextKey('test.key')"


class TestCall:
    @pytest.mark.parametrize(
        ("kind", "repeat", "mutating"),
        [
            ("get", "safe", False),
            ("list", "safe", False),
            ("wait", "safe", False),
            ("cancel", "reconcile", True),
            ("delete", "reconcile", True),
        ],
    )
    def test_properties(self, kind: str, repeat: str, mutating: bool) -> None:
        call = Call(kind, "demo", "v1", None if kind == "list" else NAME)
        assert call.repeat_policy == repeat
        assert call.safe_to_repeat is (repeat == "safe")
        assert call.mutating is mutating
        assert call.label == f"operations.{kind}"

    def test_other_resources_are_cautious_unless_told(self) -> None:
        call = Call("projects.image.export", "demo", "v1", resource="earthengine")
        assert call.label == "earthengine.projects.image.export"
        assert (call.repeat_policy, call.mutating) == ("unsafe", True)
        read = Call("projects.value.compute", "demo", "v1", resource="earthengine",
                    repeat="safe", mutates=False)
        assert (read.safe_to_repeat, read.mutating) == (True, False)

    def test_frozen_value(self) -> None:
        call = Call("get", "demo", "v1", NAME)
        assert call == Call("get", "demo", "v1", NAME)
        assert hash(call) == hash(Call("get", "demo", "v1", NAME))
        with pytest.raises(dataclasses.FrozenInstanceError):
            call.kind = "delete"  # type: ignore[misc]


def make_response(body: bytes, status: int = 200) -> Response:
    return Response(status, Headers({"Content-Type": "application/json"}), body, make_request())


class TestResponse:
    @pytest.mark.parametrize(("status", "ok"), [(199, False), (200, True), (204, True),
                                                 (299, True), (300, False), (404, False)])
    def test_ok(self, status: int, ok: bool) -> None:
        assert make_response(b"", status).ok is ok

    def test_json_parses_the_body(self) -> None:
        assert make_response(b'{"name": "x"}').json() == {"name": "x"}

    def test_json_raises_for_a_bad_body(self) -> None:
        with pytest.raises(json.JSONDecodeError):
            make_response(b"<html>").json()

    def test_with_data_is_returned_by_json(self) -> None:
        original = make_response(b'{"name": "x"}')
        parsed = original.with_data({"name": "parsed"})
        assert parsed.json() == {"name": "parsed"}
        assert original.json() == {"name": "x"}
        assert (parsed.status, parsed.body, parsed.request) == (
            original.status, original.body, original.request
        )

    @pytest.mark.parametrize("data", [None, 0, "", [], {}])
    def test_falsy_data_is_still_data(self, data: object) -> None:
        assert make_response(b"<not json>").with_data(data).json() == data

    def test_frozen(self) -> None:
        with pytest.raises(dataclasses.FrozenInstanceError):
            make_response(b"").status = 500  # type: ignore[misc]

    def test_repr_has_no_secrets(self) -> None:
        request = make_request(url=f"https://example.com/v1/{NAME}?key={TOKEN}")
        response = Response(200, Headers({"Set-Cookie": TOKEN}), TOKEN.encode(), request)
        text = repr(response)
        assert TOKEN not in text
        assert "200" in text
