"""Paging a big project: every client against the same replayed page bytes.

The replay server (:mod:`benchmarks._replay`, its own process) answers from bytes built
before the clock starts, so what differs between the rows is the clients' own work:
sending each page request, reading the body, decoding the JSON, and whatever each builds
from it.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from typing import Any

from ._config import Config
from ._measure import Section, Table, interleaved_batches
from ._peers import installed
from ._replay import ReplayProcess

PAGE = 1000
BASELINE = "requests + json"
EE = "earthengine-api ee.data"
COUNTED = "eemw (operations counted)"
TYPED = "eemw (each operation's typed state read)"


def run(cfg: Config) -> tuple[Section, dict[str, Any]]:
    total = cfg.paging_operations
    section = Section(
        "Paging a big project",
        f"Listing all {total:,} operations of a project, page size {PAGE:,} (earthengine-api "
        "chooses its own), from a loopback server in its own process that replays page bytes "
        "built before timing starts, so only the clients' own work differs. "
        f"Median of {cfg.paging_rounds} interleaved rounds. `{BASELINE}` is "
        "`Session.get` + `raise_for_status()` + `.json()`, following `nextPageToken`. eemw "
        "yields typed, frozen `Operation` values; it checks each page's shape and every name "
        "when the page arrives, and decodes an operation and builds its metadata when a field "
        "of it is first read, so the second eemw row reads `op.state` of every operation.",
    )
    with ReplayProcess(total) as server:
        fns = _listers(server)
        for name, fn in fns.items():
            got = fn()
            if got != total:
                raise RuntimeError(f"{name} listed {got} operations, expected {total}")
        steps = _steps(_bodies(server))
        # The steps run in the same interleaved rounds, so their times compare with the rest.
        timed = interleaved_batches({**fns, **steps}, rounds=cfg.paging_rounds, batch=1,
                                    warmup=1)
        memory = _memory(server)
    base = timed[BASELINE][0]
    table = Table(f"List {total:,} operations",
                  ["client", "median ms", "µs per operation", "CPU ms", "÷ requests + json"])
    for name in fns:
        wall, cpu = timed[name]
        table.rows.append([name, f"{wall * 1e3:.1f}", f"{wall / total * 1e6:.2f}",
                           f"{cpu * 1e3:.1f}", f"{wall / base:.2f}x"])
    section.tables.append(table)
    section.tables.append(_breakdown({k: timed[k][0] for k in steps}, timed[COUNTED][0], base))
    section.tables.append(memory.table)
    ratios = {name: timed[name][0] / base for name in fns}
    return section, {"ratios": ratios, "memory": memory.ratio}


def _listers(server: ReplayProcess) -> dict[str, Callable[[], int]]:
    import requests
    from google.oauth2.credentials import Credentials

    import eemw

    token = Credentials("replay-token", scopes=["https://www.googleapis.com/auth/earthengine"])
    client = eemw.Client(server.project, endpoint=server.url, credentials=token)
    session = requests.Session()
    url = f"{server.url}/v1/projects/{server.project}/operations"
    headers = {"Authorization": "Bearer replay-token"}

    def raw() -> int:
        count, next_token = 0, ""
        while True:
            params = {"pageSize": str(PAGE)} | ({"pageToken": next_token} if next_token else {})
            r = session.get(url, params=params, headers=headers)
            r.raise_for_status()
            page = r.json()
            count += len(page.get("operations", []))
            next_token = page.get("nextPageToken", "")
            if not next_token:
                return count

    fns: dict[str, Callable[[], int]] = {
        BASELINE: raw,
        COUNTED: lambda: sum(1 for _ in client.operations.list(page_size=PAGE)),
        TYPED: lambda: sum(1 for op in client.operations.list(page_size=PAGE) if op.state),
    }
    if installed("ee"):
        import ee

        ee.data.initialize(credentials=token, cloud_api_base_url=server.url,
                           project=server.project)
        fns[EE] = lambda: len(ee.data.listOperations(f"projects/{server.project}"))
    return fns


def _bodies(server: ReplayProcess) -> list[bytes]:
    import requests

    bodies, token = [], ""
    with requests.Session() as session:
        while True:
            params = {"pageSize": str(PAGE)} | ({"pageToken": token} if token else {})
            body = session.get(f"{server.url}/v1/projects/{server.project}/operations",
                               params=params).content
            bodies.append(body)
            token = json.loads(body).get("nextPageToken", "")
            if not token:
                return bodies


DECODE = "decoding the JSON (`json.loads`: what every other client does, eemw only for reference)"
CUT = "cutting each page into its operations' JSON (`split_page`)"


def _steps(bodies: list[bytes]) -> dict[str, Callable[[], object]]:
    """eemw's own steps over every page, each alone, to time beside the listings."""
    from eemw._lazyops import listed_operation
    from eemw._names import first_invalid_name
    from eemw._pagesplit import split_page

    cuts = [cut for cut in map(split_page, bodies) if cut is not None]
    if len(cuts) != len(bodies):
        raise RuntimeError("a replayed page was not cut: the benchmark would time the fallback")

    def decode() -> None:
        for body in bodies:
            json.loads(body)

    def cut() -> None:
        for body in bodies:
            split_page(body)

    def check() -> None:
        for page in cuts:
            first_invalid_name(page.names)

    def make() -> None:
        for page in cuts:
            for _ in map(listed_operation, page.names, page.pieces):
                pass

    return {
        DECODE: decode,
        CUT: cut,
        "checking every operation name": check,
        "making the operations (each decoded on first read)": make,
    }


def _breakdown(steps: dict[str, float], eemw: float, raw: float) -> Table:
    own = {k: v for k, v in steps.items() if k != DECODE}
    rest = eemw - sum(own.values())
    table = Table("Where eemw's paging time goes", ["step", "ms", "share of eemw's time"])
    for label, seconds in [*own.items(),
                           ("the rest: the exchange, the stack, the paging loop", rest)]:
        table.rows.append([label, f"{seconds * 1e3:.1f}", f"{seconds / eemw:.0%}"])
    table.rows.append([DECODE, f"{steps[DECODE] * 1e3:.1f}", "(not spent)"])
    table.notes.append(
        "Each step is timed alone over the same page bytes, in the same interleaved rounds "
        "as the listings (medians); the rest is eemw's listing time minus its steps. "
        f"Decoding every page is {steps[DECODE] / raw:.0%} of `{BASELINE}`'s time: a client "
        "that decodes every page with the standard library cannot take less. eemw cuts each "
        "page instead and decodes an operation when a field of it is first read, so the "
        "second eemw row pays one small decode per operation, and reads its state without "
        "building the rest of its metadata."
    )
    return table


class _Memory:
    def __init__(self, table: Table, ratio: float) -> None:
        self.table = table
        self.ratio = ratio


def _memory(server: ReplayProcess) -> _Memory:
    """Peak memory while eemw counts every operation, against holding one page."""
    from google.oauth2.credentials import Credentials

    import eemw

    token = Credentials("replay-token", scopes=["https://www.googleapis.com/auth/earthengine"])
    client = eemw.Client(server.project, endpoint=server.url, credentials=token)
    first = _bodies(server)[0]
    page = _traced_peak(lambda: (bytes(first), json.loads(first)))
    listing = _traced_peak(lambda: sum(1 for _ in client.operations.list(page_size=PAGE)))
    client.close()
    table = Table("Memory while paging (tracemalloc)", ["what", "peak MiB above the start"])
    table.rows += [
        [f"one page held: its {len(first) / 2**20:.2f} MiB of bytes and their decoded JSON",
         f"{page / 2**20:.2f}"],
        ["eemw counting every operation of the project", f"{listing / 2**20:.2f}"],
    ]
    table.notes.append(
        f"Paging holds {listing / page:.2f}x one page: a page's body is dropped once cut, "
        "and its operations once the last is handed out, before the next page is asked for. "
        f"That is {listing / len(first):.1f}x one page's raw bytes: while a page is cut, its "
        "body and the operations' text cut from it are both held."
    )
    return _Memory(table, listing / page)


def _traced_peak(work: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        work()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
