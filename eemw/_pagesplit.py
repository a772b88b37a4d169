"""Cutting a list page into its operations' JSON text, without decoding the operations.

Decoding a page of 1,000 operations builds every dict, string and number in it, and a
caller who pages through a project to count, filter by name or pass operations on reads
few of them. :func:`split_page` finds where each operation's object starts and ends with
a handful of passes over the bytes done in C (``bytes.translate``, ``replace``, ``split``
and ``count``), decodes only the page around the operations (``nextPageToken`` and any
other field), and leaves each operation's text to be decoded when it is first read.

It answers only when it can prove the cut exact, and returns ``None`` otherwise, so the
caller decodes the page whole, as it always could:

* UTF-8 (no NUL byte, which UTF-16 and UTF-32 text has), with no ``\\"`` and no
  ``\\\\``, so every ``"`` opens or closes a string;
* no ``{ } [ ]`` inside any string (with every string reduced to its two quotes, no
  quote is left between brackets), so counting brackets counts structure;
* one ``"operations"`` key, on the page object itself, holding an array of objects, and
  no key given twice in the rest of the page (however its name is escaped);
* each operation starts with its ``"name"`` key. The text ``}, {"name": "`` (whitespace
  allowed) cannot occur inside a string of valid JSON (its second quote would close the
  string and leave ``name`` bare), so each occurrence is the boundary between two objects
  of some array. The cut is at every occurrence of the first one's exact spelling; a
  piece whose braces do not balance started or ended inside an operation, the number of
  pieces must equal the number of values the array holds, and the pieces must hold
  exactly the array's braces (a cut past the array's end, in a later field, would not).

The operations' own text is not checked here: an operation whose JSON is corrupt in a way
that keeps its brackets balanced, or that holds a second ``"name"`` key naming another
operation (which a decoder would let win), raises
:class:`~eemw.MalformedResponseError` when it is first read (see :mod:`eemw._lazyops`).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate, islice, repeat
from operator import countOf
from typing import Any

from ._http import PartlyDecoded

__all__ = ["OPERATION_PREFIX", "SplitPage", "operation_json", "split_page"]

OPERATION_PREFIX = b'{"name":"'
"""Put back in front of a piece to make it the operation's JSON object again."""

_DECODE = json.JSONDecoder().raw_decode
_KEEP = b'"{}[]'
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in _KEEP)
_DEPTH = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}
# JSON's own whitespace only: anything else between tokens is not JSON.
_OPERATIONS = re.compile(rb'"operations"[ \t\r\n]*:[ \t\r\n]*\[')
_FIRST = re.compile(rb'[ \t\r\n]*\{[ \t\r\n]*"name"[ \t\r\n]*:[ \t\r\n]*"')
_BOUNDARY = re.compile(rb'\}[ \t\r\n]*,[ \t\r\n]*\{[ \t\r\n]*"name"[ \t\r\n]*:[ \t\r\n]*"')


class SplitPage(PartlyDecoded):
    """A list page cut into its operations' text.

    ``names[i]`` is the ``i``-th operation's name. ``pieces[i]`` is its JSON (the object
    with its leading ``{"name":"`` cut off, see :data:`OPERATION_PREFIX`). ``rest`` is
    every other field of the page, decoded (``nextPageToken``, ``unreachable``, …).
    """

    __slots__ = ("names", "pieces", "rest")

    def __init__(self, names: list[str], pieces: list[bytes], rest: dict[str, Any]) -> None:
        self.names = names
        self.pieces = pieces
        self.rest = rest

    def __repr__(self) -> str:
        return f"<SplitPage of {len(self.names)} operations>"


def split_page(body: bytes) -> SplitPage | None:
    """``body`` cut into its operations, or ``None`` when the cut cannot be proven exact."""
    if b"\\" in body and (b'\\"' in body or b"\\\\" in body):
        return None
    if b"\x00" in body:
        return None  # UTF-16 or UTF-32: json.loads reads those, this cut does not
    # Every string reduced to its two quotes, then dropped: brackets alone should be left.
    brackets = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        return None  # a string holds a bracket, or a quote is unmatched
    found = _OPERATIONS.search(body)
    if found is None or not _on_page_object(body, found.start()):
        return None
    first = _FIRST.match(body, found.end())
    if first is None:
        return None  # empty, or an operation that does not start with its name
    array = found.end()
    before = sum(body.count(b, 0, array) for b in (b"{", b"}", b"[", b"]"))
    objects, opens = _objects_in(brackets[before:])
    return _cut(body, array, first.end(), objects, opens) if objects > 0 else None


def _on_page_object(body: bytes, at: int) -> bool:
    opened = body.count(b"{", 0, at) - body.count(b"}", 0, at)
    return opened == 1 and body.count(b"[", 0, at) == body.count(b"]", 0, at)


def _cut(body: bytes, array: int, start: int, objects: int, opens: int) -> SplitPage | None:
    boundary = _BOUNDARY.search(body, start)
    pieces = body[start:].split(boundary.group()) if boundary else [body[start:]]
    if len(pieces) != objects:
        return None
    end = _object_end(pieces[-1])
    if end is None:
        return None
    close = len(body) - len(pieces[-1]) + end + 1  # just past the last operation
    pieces[-1] = pieces[-1][:end]
    # A cut inside an operation leaves its pieces unbalanced; a boundary missed (an
    # operation that does not start with its name) leaves fewer pieces than objects,
    # unless a cut past the array's end (in a later field) makes up for it: then the
    # pieces hold more braces than the array.
    opened = list(map(bytes.count, pieces, repeat(b"{")))
    if opened != list(map(bytes.count, pieces, repeat(b"}"))):
        return None
    if sum(opened) + len(pieces) != opens:
        return None
    names = _names(pieces)
    if names is None:
        return None
    rest = _rest(body[:array] + body[close:])
    return None if rest is None else SplitPage(names, pieces, rest)


def _rest(page: bytes) -> dict[str, Any] | None:
    """The page with an empty operations array: its other fields, decoded."""
    try:
        # A second "operations" key, however spelt, would win over the cut-out array.
        rest = json.loads(page, object_pairs_hook=_unique)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(rest, dict) or rest.pop("operations", None) != []:
        return None
    return rest


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key is given twice")
    return value


def _object_end(tail: bytes) -> int | None:
    """Where the operation that ``tail`` starts inside of closes (its ``}``)."""
    depth, at = 1, 0
    while depth:
        close = tail.find(b"}", at)
        if close < 0:
            return None
        depth += tail.count(b"{", at, close) - 1
        at = close + 1
    return at - 1


def _objects_in(brackets: bytes) -> tuple[int, int]:
    """How many values the array that ``brackets`` starts inside of holds, and how many
    ``{`` it holds at any depth; (-1, -1) when it does not start with an object."""
    depths = list(accumulate(map(_DEPTH.__getitem__, brackets)))
    try:
        end = depths.index(-1)  # the array's own "]"
    except ValueError:
        return -1, -1
    if brackets[:1] != b"{":
        return -1, -1
    return countOf(islice(depths, end), 0), brackets.count(b"{", 0, end)


def _names(pieces: list[bytes]) -> list[str] | None:
    # A list comprehension and C calls, no loop: this runs for every operation listed.
    # Every string closes before the next bracket, so each piece holds its name's end.
    joined = b"\n".join([p[: p.find(b'"')] for p in pieces])
    if b"\\" in joined:
        return None  # an escaped name: rare enough to decode the page whole
    try:
        names = joined.decode().split("\n")
    except UnicodeDecodeError:
        return None
    return names if len(names) == len(pieces) else None


def _decoded(piece: bytes) -> dict[str, Any] | None:
    # The decoder itself, not json.loads: no encoding to detect (the page passed as
    # UTF-8), and half the cost of one operation's decode.
    try:
        # surrogatepass: json.loads reads a lone surrogate written in UTF-8; so must this.
        text = (OPERATION_PREFIX + piece + b"}").decode("utf-8", "surrogatepass")
        value, end = _DECODE(text)
    except (ValueError, RecursionError):
        return None
    return value if end == len(text) and isinstance(value, dict) else None


def operation_json(name: str, text: bytes) -> dict[str, Any]:
    """The JSON object of the listed operation ``name`` from its cut ``text``."""
    value = _decoded(text)
    if value is None or value.get("name") != name:
        from ._errors import MalformedResponseError

        what = "is not valid JSON" if value is None else "has a second name"
        raise MalformedResponseError(
            f"operations.list: the page's entry for {name} {what}", call="operations.list"
        )
    return value
