"""Operation names: the one place that parses, validates and builds them.

A name that passes :class:`OperationName` can only ever produce a path inside
``/{version}/projects/{project}/operations``.
"""

from __future__ import annotations

import re
from functools import cache

from ._errors import InvalidNameError, UsageError
from ._value import frozen

__all__ = ["OperationName", "collection_path", "first_invalid_name", "is_operation_name"]


# A project id, number, or domain-scoped id ("example.com:proj"). Deliberately strict:
# every character that could change how a URL path is read is outside these classes.
_PROJECT = r"[A-Za-z0-9](?:[A-Za-z0-9._:-]{0,126}[A-Za-z0-9])?"
_OP_ID = r"[A-Za-z0-9_-]{1,256}"
_PROJECT_RE = re.compile(_PROJECT)
_OP_ID_RE = re.compile(_OP_ID)
_NAME_RE = re.compile(rf"projects/({_PROJECT})/operations/({_OP_ID})")
_NAME = rf"projects/{_PROJECT}/operations/{_OP_ID}"
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_VERSION_RE = re.compile(r"[A-Za-z0-9]{1,32}")
# The longest valid name: "projects/" + 128 + "/operations/" + 256 characters.
_MAX_NAME = 9 + 128 + 12 + 256


@frozen
class OperationName:
    """A validated operation name: ``projects/{project}/operations/{id}``."""

    project: str
    id: str

    def __init__(self, project: str, id: str) -> None:
        object.__setattr__(self, "project", project)
        object.__setattr__(self, "id", id)
        self.__post_init__()

    def __post_init__(self) -> None:
        _check_project(self.project)
        if not isinstance(self.id, str):
            raise InvalidNameError(f"operation id must be a string, not {type(self.id).__name__}")
        if not _OP_ID_RE.fullmatch(self.id):
            raise InvalidNameError(
                f"invalid operation id {_show(self.id)}: use 1-256 letters, digits, '-' or '_'"
            )

    @classmethod
    def parse(cls, text: object, project: str | None = None) -> OperationName:
        """Parse a full name, or a bare id within ``project``.

        Raises :class:`InvalidNameError` for anything else (empty parts, ``..``, ``?``,
        ``#``, ``%``, whitespace, control characters, a project with ``/``).
        """
        if not isinstance(text, str):
            raise InvalidNameError(f"operation name must be a string, not {type(text).__name__}")
        if len(text) > _MAX_NAME:
            raise InvalidNameError(
                f"invalid operation name {_show(text)}: longer than {_MAX_NAME} characters"
            )
        _check_chars(text)
        m = _NAME_RE.fullmatch(text)
        if m is not None:
            return cls(m.group(1), m.group(2))
        if text.startswith("projects/") or "/" in text:
            raise InvalidNameError(
                f"invalid operation name {_show(text)}: expected "
                "'projects/{project}/operations/{id}' or a bare operation id"
            )
        if project is None:
            raise InvalidNameError(
                f"operation id {_show(text)} has no project: pass a full name "
                "'projects/{project}/operations/{id}' or give the client a project"
            )
        return cls(project, text)

    @property
    def name(self) -> str:
        return f"projects/{self.project}/operations/{self.id}"

    def path(self, api_version: str) -> str:
        """``/{api_version}/projects/{project}/operations/{id}``.

        Raises :class:`UsageError` for an ``api_version`` that is not plain letters and
        digits, so the path can never leave the operations collection.
        """
        _check_version(api_version)
        return f"/{api_version}/projects/{self.project}/operations/{self.id}"

    def __str__(self) -> str:
        return self.name


def is_operation_name(text: str) -> bool:
    """Whether ``text`` is a full operation name :meth:`OperationName.parse` accepts.

    The same rules at a fraction of the cost, for checking every name of a list page: the
    name pattern's character classes already leave out whitespace, controls, ``%``, ``?``,
    ``#``, backslashes and empty parts, and bound both lengths; only ``..`` is left.
    """
    return _NAME_RE.fullmatch(text) is not None and ".." not in text


def collection_path(project: str, api_version: str) -> str:
    """The path of a project's operations collection, after validating ``project``."""
    _check_project(project)
    _check_version(api_version)
    return f"/{api_version}/projects/{project}/operations"


def _check_version(api_version: object) -> None:
    if not isinstance(api_version, str) or not _VERSION_RE.fullmatch(api_version):
        shown = _show(api_version) if isinstance(api_version, str) else type(api_version).__name__
        raise UsageError(f"invalid API version {shown}: use letters and digits, e.g. 'v1'")


def _check_project(project: object) -> None:
    if not isinstance(project, str) or not _PROJECT_RE.fullmatch(project) or ".." in project:
        shown = _show(project) if isinstance(project, str) else type(project).__name__
        raise InvalidNameError(
            f"invalid project {shown}: use letters, digits, '-', '.', ':' "
            "(no '/', '..', whitespace or other punctuation)"
        )


def _check_chars(text: str) -> None:
    if not text:
        raise InvalidNameError("operation name is empty")
    if _CONTROL.search(text):
        raise InvalidNameError(
            f"invalid operation name {_show(text)}: contains whitespace or control characters"
        )
    for bad, why in (("%", "percent-encoded characters"), ("?", "'?'"), ("#", "'#'"),
                     ("\\", "backslashes"), ("..", "'..'"), ("//", "empty path parts")):
        if bad in text:
            raise InvalidNameError(f"invalid operation name {_show(text)}: {why} are not allowed")


def _show(text: str) -> str:
    # Names are not secret, but a hostile one may be huge or hold terminal escapes.
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def first_invalid_name(names: list[str]) -> int | None:
    """The index of the first of ``names`` that :func:`is_operation_name` refuses, else None.

    One pattern match over the names joined by line breaks (which no valid name holds):
    a page's thousand names cost about as much as a few checked one by one.
    """
    text = "\n".join(names)
    whole = names and text.count("\n") == len(names) - 1 and ".." not in text
    if whole and _names_pattern().fullmatch(text) is not None:
        return None
    return next((i for i, name in enumerate(names) if not is_operation_name(name)), None)


@cache
def _names_pattern() -> re.Pattern[str]:
    # Compiled on the first list page, not at import: a client that never lists never pays.
    return re.compile(rf"(?:{_NAME}\n)*{_NAME}")
