"""Paging through operations.list: bounded memory, and page-token cycles caught.

Memory is measured with tracemalloc on bounded sizes (sizes, never times).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw._paging import PageTokens

MIB = 1024 * 1024


def op_wire(i: int) -> dict[str, object]:
    return {
        "name": f"projects/demo/operations/OP{i:08d}",
        "metadata": {"state": "SUCCEEDED", "description": f"export number {i} " + "x" * 200,
                     "createTime": "2024-05-01T10:00:00Z", "stages": [{"displayName": "s"}]},
        "done": True,
    }


def token_of(request: eemw.Request) -> str:
    return parse_qs(urlsplit(request.url).query).get("pageToken", [""])[0]


def client_over(handler: Callable[[eemw.Request], eemw.Response]) -> eemw.Client:
    # A plain function as the transport: MockTransport would keep every request.
    return eemw.Client("demo", transport=handler, credentials=AnonymousCredentials())


def reply(request: eemw.Request, body: bytes) -> eemw.Response:
    headers = eemw.Headers({"Content-Type": "application/json"})
    return eemw.Response(200, headers, body, request)


class TestPageTokens:
    def test_a_token_seen_before_is_caught_at_once(self) -> None:
        tokens = PageTokens()
        assert [tokens.repeated(t) for t in ("a", "b", "c", "b")] == [False] * 3 + [True]

    @pytest.mark.parametrize("cycle", [1, 2, 7, 50, 333])
    def test_a_cycle_longer_than_what_is_remembered_is_caught(self, cycle: int) -> None:
        tokens = PageTokens(recent=4)
        seen = 0
        for i in range(10 * cycle + 20):
            seen += 1
            if tokens.repeated(f"t{i % cycle}"):
                break
        else:
            pytest.fail("the cycle was never noticed")
        assert seen <= 4 * cycle + 4

    def test_endless_unique_tokens_keep_a_bounded_record(self) -> None:
        tokens = PageTokens(recent=64)
        assert not any(tokens.repeated(f"token-{i}") for i in range(20_000))
        assert len(tokens) <= 65

    def test_tokens_with_lone_surrogates_are_compared(self) -> None:
        tokens = PageTokens()
        assert not tokens.repeated("a\ud800")
        assert tokens.repeated("a\ud800")


def test_a_hostile_server_with_endless_huge_tokens_cannot_grow_memory() -> None:
    # Each page hands out a new 1 MiB token. Memory held must not follow the page count.
    pages = 0

    def handler(request: eemw.Request) -> eemw.Response:
        nonlocal pages
        pages += 1
        token = f"{pages:08d}".ljust(MIB, "t")
        body = {"operations": [op_wire(pages)], "nextPageToken": token}
        return reply(request, json.dumps(body).encode())

    listing = client_over(handler).operations.list()
    held = []
    tracemalloc.start()
    try:
        for count, _ in enumerate(listing, 1):
            if count in (20, 120):
                gc.collect()
                held.append(tracemalloc.get_traced_memory()[0])
            if count == 120:
                break
    finally:
        tracemalloc.stop()
    assert held[1] - held[0] < 2 * MIB  # a set of the tokens would hold 100 MiB more


def test_a_hostile_server_repeating_a_huge_token_is_stopped() -> None:
    def handler(request: eemw.Request) -> eemw.Response:
        token = "A" * MIB if token_of(request) == "B" * MIB else "B" * MIB
        return reply(request, json.dumps({"operations": [], "nextPageToken": token}).encode())

    with pytest.raises(eemw.MalformedResponseError, match="repeated a page token"):
        list(client_over(handler).operations.list())


class TestOnePageAtATime:
    PAGES, PER_PAGE = 12, 300

    @pytest.fixture
    def bodies(self) -> dict[str, bytes]:
        found = {}
        for p in range(self.PAGES):
            ops = [op_wire(p * self.PER_PAGE + i) for i in range(self.PER_PAGE)]
            page: dict[str, object] = {"operations": ops}
            if p + 1 < self.PAGES:
                page["nextPageToken"] = f"p{p + 1}"
            found["" if p == 0 else f"p{p}"] = json.dumps(page).encode()
        return found

    def one_page(self, body: bytes) -> int:
        """What holding one page costs: its bytes and its decoded operations."""
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            kept = (bytes(body), json.loads(body))
            size = tracemalloc.get_traced_memory()[0] - before
            del kept
        finally:
            tracemalloc.stop()
        return size

    def peak_while_listing(
        self, bodies: dict[str, bytes], consume: Callable[[Iterator[eemw.Operation]], object]
    ) -> int:
        client = client_over(lambda request: reply(request, bodies[token_of(request)]))
        listing = client.operations.list(page_size=self.PER_PAGE)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            consume(listing)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak - before

    def test_holds_at_most_one_page(self, bodies: dict[str, bytes]) -> None:
        page = self.one_page(bodies["p1"])
        count = 0

        def count_them(listing: Iterator[eemw.Operation]) -> None:
            nonlocal count
            count = sum(1 for _ in listing)

        peak = self.peak_while_listing(bodies, count_them)
        assert count == self.PAGES * self.PER_PAGE
        # Two pages at once (the last one still held while the next is read) would be 2x.
        assert peak < 1.5 * page

    def test_holds_one_page_plus_what_the_caller_keeps(self, bodies: dict[str, bytes]) -> None:
        page = self.one_page(bodies["p1"])
        kept: list[eemw.Operation] = []

        def keep_some(listing: Iterator[eemw.Operation]) -> None:
            kept.extend(op for op in listing if op.name.endswith("00"))

        peak = self.peak_while_listing(bodies, keep_some)
        assert len(kept) == self.PAGES * self.PER_PAGE // 100
        assert all(op.metadata.state is eemw.State.SUCCEEDED for op in kept)
        assert peak < 1.5 * page + len(kept) * 4096
