"""Listing through the real transport: pages cut into operations that decode on first read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eemw
from eemw.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        for i in range(25):
            emulator.add_operation(
                "demo", state=("RUNNING", "SUCCEEDED", "FAILED")[i % 3], type="EXPORT_IMAGE",
                description=f"export {i}",
            )
        yield emulator


class Pages:
    """A stage outside the check stage: what every page's response looked like to it."""

    def __init__(self) -> None:
        self.data: list[object] = []
        self.json: list[dict[str, object]] = []

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        response = call_next(request)
        self.data.append(response.data)
        self.json.append(response.json())
        return response


def listed(emu: Emulator, page_size: int) -> tuple[list[eemw.Operation], Pages]:
    seen = Pages()
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                     middleware=[eemw.Entry("pages", seen, "call")]) as client:
        ops = list(client.operations.list(page_size=page_size))
    return ops, seen


def test_listed_operations_are_the_ones_the_pages_hold(emu: Emulator) -> None:
    ops, seen = listed(emu, page_size=10)
    wire = [op for body in seen.json for op in body["operations"]]  # type: ignore[attr-defined]
    assert len(ops) == len(wire) == 25
    for op, data in zip(ops, wire, strict=True):
        parsed = eemw.Operation.from_wire(data)
        assert op == parsed and op.state is parsed.state and op.raw == parsed.raw


def test_pages_are_cut_rather_than_decoded_and_stages_still_see_json(emu: Emulator) -> None:
    from eemw._pagesplit import SplitPage

    emu.add_operation("demo", description="export {tile 26}")  # newest: on the first page
    _, seen = listed(emu, page_size=10)
    # The page holding a brace inside a description is decoded whole; the others are cut.
    kinds = [type(data) for data in seen.data]
    assert kinds.count(SplitPage) == 2 and kinds.count(dict) == 1
    assert all(isinstance(body, dict) and "operations" in body for body in seen.json)


def test_a_corrupt_operation_fails_when_first_read(emu: Emulator) -> None:
    def corrupt(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        response = call_next(request)
        body = response.body.replace(b'"state":"RUNNING"', b'"state":RUNNING', 1)
        return eemw.Response(response.status, response.headers, body, response.request)

    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                     middleware=[eemw.Entry("corrupt", corrupt, "attempt", after="check")]) as c:
        ops = list(c.operations.list(page_size=25))
    assert len(ops) == 25  # the page's shape and every name were checked
    failed = []
    for op in ops:
        try:
            _ = op.metadata
        except eemw.MalformedResponseError as error:
            failed.append((op.name, str(error)))
    assert len(failed) == 1
    name, message = failed[0]
    assert name in message and "not valid JSON" in message
