"""OperationName: the one gate between user input and a URL path."""

from __future__ import annotations

import posixpath
import re
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eemw import InvalidNameError, OperationName, UsageError
from eemw._models import collection_path

STRICT_PATH = re.compile(
    r"/v1/projects/[A-Za-z0-9](?:[A-Za-z0-9._:-]*[A-Za-z0-9])?/operations/[A-Za-z0-9_-]+"
)


class TestValid:
    @pytest.mark.parametrize(
        ("text", "project", "op_id"),
        [
            ("projects/demo/operations/ABC123", "demo", "ABC123"),
            ("projects/my-project-42/operations/P7ZQ-ab_CD", "my-project-42", "P7ZQ-ab_CD"),
            ("projects/123456789012/operations/1", "123456789012", "1"),
            ("projects/example.com:proj/operations/X", "example.com:proj", "X"),
            ("projects/a/operations/" + "z" * 256, "a", "z" * 256),
        ],
    )
    def test_full_names(self, text: str, project: str, op_id: str) -> None:
        name = OperationName.parse(text)
        assert (name.project, name.id) == (project, op_id)
        assert name.name == text
        assert str(name) == text

    def test_bare_id_uses_the_given_project(self) -> None:
        assert OperationName.parse("ABC123", "demo") == OperationName("demo", "ABC123")

    def test_full_name_ignores_the_default_project(self) -> None:
        name = OperationName.parse("projects/other/operations/X", "demo")
        assert name.project == "other"

    def test_path(self) -> None:
        name = OperationName("demo", "ABC")
        assert name.path("v1") == "/v1/projects/demo/operations/ABC"
        assert name.path("v1beta") == "/v1beta/projects/demo/operations/ABC"
        assert name.path("v1alpha") == "/v1alpha/projects/demo/operations/ABC"

    def test_collection_path(self) -> None:
        assert collection_path("demo", "v1") == "/v1/projects/demo/operations"

    def test_is_a_frozen_hashable_value(self) -> None:
        a = OperationName.parse("projects/demo/operations/X")
        assert a == OperationName("demo", "X")
        assert len({a, OperationName("demo", "X")}) == 1
        with pytest.raises(AttributeError):
            a.id = "Y"  # type: ignore[misc]


HOSTILE = {
    "empty": "",
    "empty project": "projects//operations/x",
    "empty id": "projects/demo/operations/",
    "double slash in id": "projects/demo/operations//x",
    "leading slash": "/projects/demo/operations/x",
    "dot-dot project": "projects/../operations/x",
    "dot-dot id": "projects/demo/operations/..",
    "dot-dot bare": "..",
    "dot-dot traversal": "projects/demo/operations/../../v1/projects/other/operations/x",
    "dot-dot inside project": "projects/a..b/operations/x",
    "single dot id": "projects/demo/operations/.",
    "query": "projects/demo/operations/x?alt=media",
    "query bare": "x?y=1",
    "fragment": "projects/demo/operations/x#top",
    "fragment bare": "x#",
    "percent slash": "projects/demo%2Fevil/operations/x",
    "percent slash lower": "x%2f..%2fy",
    "percent letter": "x%41",
    "percent dot": "projects/demo/operations/%2e%2e",
    "bare percent": "%",
    "space": "projects/demo/operations/x y",
    "leading space": " x",
    "trailing newline": "projects/demo/operations/x\n",
    "tab": "x\ty",
    "nbsp": "x\u00a0",
    "em space": "\u2003x",
    "nul": "x\x00",
    "escape sequence": "x\x1b[31m",
    "del": "x\x7f",
    "c1 control": "x\x85",
    "cyrillic e": "projects/d\u0435mo/operations/x",
    "cyrillic bare": "\u0445",
    "fullwidth letters": "\uff58\uff59",
    "division slash": "projects\u2215demo\u2215operations\u2215x",
    "fullwidth solidus": "projects/demo/operations/x\uff0fy",
    "zero width space": "x\u200b",
    "bidi override": "x\u202eevil",
    "backslash": "projects\\demo\\operations\\x",
    "trailing slash": "projects/demo/operations/x/",
    "extra segment": "projects/demo/operations/x/y",
    "custom method": "projects/demo/operations/x:cancel",
    "version prefix": "v1/projects/demo/operations/x",
    "location segment": "projects/demo/locations/us/operations/x",
    "wrong collection": "projects/demo/tasks/x",
    "projects only": "projects/demo",
    "project with colon first": "projects/:demo/operations/x",
    "project ending with dash": "projects/demo-/operations/x",
    "dot in id": "projects/demo/operations/x.y",
    "id too long": "projects/a/operations/" + "z" * 257,
    "huge": "a" * 1_000_000,
    "huge full name": "projects/demo/operations/" + "x" * 100_000,
}


class TestHostile:
    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_raises_invalid_name(self, text: str) -> None:
        with pytest.raises(InvalidNameError) as info:
            OperationName.parse(text, "demo")
        message = str(info.value)
        assert "operation" in message or "project" in message
        # A hostile name must not flood a log or smuggle terminal escapes into it.
        assert len(message) < 400
        assert not re.search(r"[\x00-\x1f\x7f-\x9f\u200b\u202e]", message)

    def test_is_a_usage_error_and_a_value_error(self) -> None:
        with pytest.raises(UsageError):
            OperationName.parse("x?y", "demo")
        with pytest.raises(ValueError):
            OperationName.parse("x?y", "demo")

    @pytest.mark.parametrize(
        ("text", "says"),
        [
            ("", "empty"),
            ("x?y", "'?'"),
            ("x#y", "'#'"),
            ("x%2Fy", "percent"),
            ("x y", "whitespace"),
            ("a/../b", "'..'"),
            ("projects/demo/operations/x/y", "projects/{project}/operations/{id}"),
            ("x.y", "letters, digits"),
        ],
    )
    def test_message_says_what_is_wrong(self, text: str, says: str) -> None:
        with pytest.raises(InvalidNameError, match=re.escape(says)):
            OperationName.parse(text, "demo")

    def test_message_quotes_the_name(self) -> None:
        with pytest.raises(InvalidNameError, match=re.escape("'x?y'")):
            OperationName.parse("x?y", "demo")

    def test_bare_id_without_project_says_how_to_fix(self) -> None:
        with pytest.raises(InvalidNameError, match="project"):
            OperationName.parse("ABC123")

    @pytest.mark.parametrize(
        "project",
        ["a/b", "", "..", "a..b", "a b", "a?b", "a#b", "a%2Fb", "d\u0435mo", "-a", "x" * 200],
    )
    def test_hostile_project(self, project: str) -> None:
        with pytest.raises(InvalidNameError, match="project"):
            OperationName.parse("ABC", project)
        with pytest.raises(InvalidNameError, match="project"):
            OperationName(project, "ABC")
        with pytest.raises(InvalidNameError, match="project"):
            collection_path(project, "v1")

    @pytest.mark.parametrize("text", [None, 123, b"projects/demo/operations/x", ["x"], 1.5])
    def test_non_string_input(self, text: object) -> None:
        with pytest.raises(InvalidNameError, match="string"):
            OperationName.parse(text, "demo")

    def test_an_operation_name_object_is_not_text(self) -> None:
        with pytest.raises(InvalidNameError, match="OperationName"):
            OperationName.parse(OperationName("demo", "x"))

    @pytest.mark.parametrize(("project", "op_id"), [(None, "x"), ("demo", None), ("demo", 7)])
    def test_constructor_rejects_non_strings(self, project: object, op_id: object) -> None:
        with pytest.raises(InvalidNameError):
            OperationName(project, op_id)  # type: ignore[arg-type]

    @pytest.mark.parametrize("op_id", ["", "a/b", "..", "a?b", "x" * 257, "a b"])
    def test_constructor_rejects_bad_ids(self, op_id: str) -> None:
        with pytest.raises(InvalidNameError, match="operation id"):
            OperationName("demo", op_id)


class TestPathVersion:
    @pytest.mark.parametrize(
        "version", ["", "..", "../x", "v1/..", "v1?x=1", "v1#", "v 1", "v1/projects", "v%2F1"]
    )
    def test_hostile_versions_raise(self, version: str) -> None:
        name = OperationName("demo", "x")
        with pytest.raises(UsageError, match="API version"):
            name.path(version)
        with pytest.raises(UsageError, match="API version"):
            collection_path("demo", version)


def assert_confined(name: OperationName) -> None:
    path = name.path("v1")
    assert STRICT_PATH.fullmatch(path), path
    assert path.startswith(f"/v1/projects/{name.project}/operations/")
    # Nothing a URL parser or a path normaliser does may move it elsewhere.
    assert posixpath.normpath(path) == path
    assert urlsplit("https://example.com" + path).path == path


# Pieces that sit near the boundary of what is valid, so the search finds edges quickly.
_PIECES = st.sampled_from(
    ["", ".", "..", "/", "%", "%2F", "?", "#", ":", "-", "_", " ", "\n", "\u0435", "\uff0f",
     "a", "Z", "0", "demo", "projects", "operations", "\\", "\x00"]
)
_PLAIN = st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True)
_FRAGMENT = st.lists(st.one_of(_PLAIN, _PIECES, st.text(max_size=3)), max_size=5).map("".join)
_NEAR_NAMES = st.builds(lambda p, i: f"projects/{p}/operations/{i}", _FRAGMENT, _FRAGMENT)


class TestProperty:
    @settings(max_examples=400, deadline=None)
    @given(text=st.one_of(st.text(), _FRAGMENT, _NEAR_NAMES),
           project=st.one_of(st.none(), st.just("demo"), _PLAIN, _FRAGMENT))
    @example(text="projects/demo/operations/x", project=None)
    @example(text="x", project="example.com:p")
    def test_parse_rejects_or_yields_a_confined_round_tripping_name(
        self, text: str, project: str | None
    ) -> None:
        try:
            name = OperationName.parse(text, project)
        except InvalidNameError:
            return
        assert_confined(name)
        assert OperationName.parse(name.name) == name
        assert OperationName.parse(name.id, name.project) == name
        if "/" in text:
            assert name.name == text
        else:
            assert (name.project, name.id) == (project, text)
