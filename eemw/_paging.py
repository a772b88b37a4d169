"""Paging through ``operations.list``: the page loop, and page-token cycle detection.

The loop holds one page at a time: a page's body is dropped as soon as it is read, and its
operations as soon as the last of them is handed out, before the next page is asked for.
The operations it yields are built on demand (:mod:`eemw._lazyops`): from each one's JSON
text when the check stage could cut the page without decoding it
(:func:`~eemw._pagesplit.split_page`), else from the decoded page; a caller who only
counts or names them never pays for decoding them, let alone for their typed metadata.

A server that hands back a page token it gave before would page forever.
:class:`PageTokens` notices that in bounded memory, however many pages a listing has and
however large its tokens are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any

from ._errors import MalformedResponseError
from ._http import Call, Response
from ._lazyops import lazy_operation, listed_operation
from ._models import Operation
from ._pagesplit import SplitPage

__all__ = ["PageTokens", "pages"]

# Digests of this many recent tokens are kept: a cycle of up to that many pages is caught
# before any page is fetched twice. About 100 bytes each.
RECENT_TOKENS = 1024


class PageTokens:
    """Which page tokens a listing has seen, in bounded memory.

    Keeps 16-byte digests, never tokens: the last ``recent`` of them, so a repeat within
    that many pages is caught the moment the token comes back; and, for longer cycles, one
    more digest moved along the way by Brent's algorithm, which catches a cycle of any
    length within about twice its length in pages.
    """

    __slots__ = ("_limit", "_power", "_recent", "_saved", "_steps")

    def __init__(self, recent: int = RECENT_TOKENS) -> None:
        self._limit = recent
        self._recent: dict[bytes, None] = {}  # insertion order: the oldest goes first
        self._saved: bytes | None = None
        self._power = 1
        self._steps = 0

    def repeated(self, token: str) -> bool:
        """Record ``token``; True when it was seen before (the server pages in a circle)."""
        # surrogatepass: a decoded JSON string may hold a lone surrogate ("\\ud800").
        digest = hashlib.blake2b(
            token.encode("utf-8", "surrogatepass"), digest_size=16
        ).digest()
        if digest in self._recent or digest == self._saved:
            return True
        self._recent[digest] = None
        if len(self._recent) > self._limit:
            del self._recent[next(iter(self._recent))]
        self._steps += 1
        if self._steps == self._power:
            self._saved, self._power, self._steps = digest, self._power * 2, 0
        return False

    def __len__(self) -> int:
        return len(self._recent) + (self._saved is not None)


def pages(
    send: Callable[[Mapping[str, str]], Response],
    call: Call,
    query: Mapping[str, str],
    limit: int | None,
    keep: Callable[[Operation], bool] | None,
) -> Iterator[Operation]:
    """The operations of every page, asking ``send(query)`` for each page as it is needed.

    ``send`` returns a checked list page (the check stage has verified its shape and every
    operation's name). Stops after ``limit`` operations that ``keep`` accepts (all of
    them when ``keep`` is None).
    """
    found = 0
    tokens = PageTokens()
    while limit is None or found < limit:
        token, ops = _read(send(query))  # the response and its body go here
        if keep is not None:
            ops = filter(keep, ops)
        if limit is None:
            yield from ops
        else:
            for op in islice(ops, limit - found):
                found += 1
                yield op
        del ops  # before the next page arrives, so only one is ever held
        if not token or (limit is not None and found >= limit):
            return
        if tokens.repeated(token):
            raise MalformedResponseError(
                f"operations.list projects/{call.project}: the server repeated a page token",
                call=call.label,
            )
        query = {**query, "pageToken": token}


def _read(response: Response) -> tuple[str | None, Iterator[Operation]]:
    """A checked page's token and its operations, each made when the loop reaches it."""
    data = response.data
    if isinstance(data, SplitPage):
        return data.rest.get("nextPageToken"), map(listed_operation, data.names, data.pieces)
    page: dict[str, Any] = response.json()
    return page.get("nextPageToken"), map(lazy_operation, page.get("operations", []))
