"""Scale: list over growing projects, and cancel_many under server latency."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from ._config import Config
from ._emulator import EmulatorProcess
from ._measure import Section, Table, interleaved_batches
from ._peers import ee_initialize, installed

PAGE = 1000


def run(cfg: Config) -> tuple[Section, dict[str, Any]]:
    section = Section(
        "Scale",
        "`list` pages through a whole project (page size 1,000 for eemw and raw requests; "
        "earthengine-api always asks for 500); cost per operation as the project grows. "
        f"`cancel_many` runs against an emulator adding {cfg.cancel_latency_ms:g} ms to "
        "every response.",
    )
    per_op: dict[int, tuple[float, float]] = {}
    table = Table("`list`: whole project", ["operations", "client", "median ms", "wall µs/op",
                                            "CPU µs/op", "wall ÷ requests"])
    for size in cfg.list_sizes:
        for row, cost in _list_rows(cfg, size):
            table.rows.append(row)
            if row[1] == "eemw":
                per_op[size] = cost
    table.notes.append(
        "Wall time includes the emulator's own work (the same for every client); CPU is the "
        "client's alone."
    )
    section.tables.append(table)
    speedups, cancel_table = _cancel(cfg)
    section.tables.append(cancel_table)
    return section, {"list_per_op": per_op, "cancel_speedup": speedups}


def _list_rows(cfg: Config, size: int) -> list[tuple[list[str], tuple[float, float]]]:
    """Table rows for one project size, each with its (wall, CPU) seconds per operation."""
    reps = max(3, min(300, cfg.list_op_budget // size))
    with EmulatorProcess(seed=size) as emu:
        fns = _listers(emu)
        for name, fn in fns.items():
            got = fn()
            if got != size:
                raise RuntimeError(f"{name} listed {got} operations, expected {size}")
        timed = interleaved_batches(fns, rounds=reps, batch=1, warmup=1)
    base = timed["requests"][0]
    rows = []
    for name, (wall, cpu) in timed.items():
        rows.append(([f"{size:,}", name, f"{wall * 1e3:.2f}", f"{wall / size * 1e6:.1f}",
                      f"{cpu / size * 1e6:.1f}", f"{wall / base:.2f}x"], (wall / size, cpu / size)))
    return rows


def _listers(emu: EmulatorProcess) -> dict[str, Callable[[], int]]:
    import requests

    import eemw

    client = eemw.Client(emu.project, endpoint=emu.url, credentials=emu.credentials())
    session = requests.Session()
    headers = {"Authorization": "Bearer " + emu.token()}
    url = f"{emu.url}/v1/projects/{emu.project}/operations"

    def raw() -> int:
        count, token = 0, ""
        while True:
            params = {"pageSize": str(PAGE)} | ({"pageToken": token} if token else {})
            r = session.get(url, params=params, headers=headers)
            r.raise_for_status()
            page = r.json()
            count += len(page.get("operations", []))
            token = page.get("nextPageToken", "")
            if not token:
                return count

    fns: dict[str, Callable[[], int]] = {
        "requests": raw,
        "eemw": lambda: sum(1 for _ in client.operations.list(page_size=PAGE)),
    }
    if installed("ee"):
        import ee

        ee_initialize(emu, emu.project)
        fns["earthengine-api ee.data"] = lambda: len(
            ee.data.listOperations(f"projects/{emu.project}")
        )
    return fns


def _cancel(cfg: Config) -> tuple[dict[int, float], Table]:
    import eemw

    table = Table(
        f"Cancel N operations, {cfg.cancel_latency_ms:g} ms server latency",
        ["N", "how", "seconds", "operations/s", "x faster than the loop"],
    )
    biggest = max(cfg.cancel_sizes)
    # 3 of every 7 seeded operations are still running: seed enough of them.
    seed = math.ceil(biggest * 7 / 3) + 14
    speedups: dict[int, float] = {}
    with EmulatorProcess(seed=seed, latency_ms=cfg.cancel_latency_ms) as emu:
        names = emu.live_names()[:biggest]
        client = eemw.Client(emu.project, endpoint=emu.url, credentials=emu.credentials())
        client.operations.get(names[0])  # token and connection ready before timing
        ways: dict[str, Callable[[list[str]], object]] = {
            "client.operations.cancel_many": _cancel_many(client),
            "loop of client.operations.cancel": lambda ns: [
                client.operations.cancel(n) for n in ns
            ],
        }
        if installed("ee"):
            import ee

            ee_initialize(emu, emu.project)
            ways["loop of ee.data.cancelOperation"] = lambda ns: [
                ee.data.cancelOperation(n) for n in ns
            ]
        for size in cfg.cancel_sizes:
            subset = names[:size]
            seconds = {how: _timed(way, subset) for how, way in ways.items()}
            loop = seconds["loop of client.operations.cancel"]
            speedups[size] = loop / seconds["client.operations.cancel_many"]
            for how, s in seconds.items():
                table.rows.append([f"{size:,}", how, f"{s:.2f}", f"{size / s:,.0f}",
                                   f"{loop / s:.1f}x"])
        client.close()
    table.notes.append("cancel_many uses its default of 16 worker threads over one client.")
    return speedups, table


def _cancel_many(client: Any) -> Callable[[list[str]], object]:
    def run(names: list[str]) -> object:
        results = client.operations.cancel_many(names)
        failed = [r for r in results if not r.ok]
        if failed:
            raise RuntimeError(f"{len(failed)} cancels failed, first: {failed[0].error}")
        return results

    return run


def _timed(way: Callable[[list[str]], object], names: list[str]) -> float:
    started = time.perf_counter()
    way(names)
    return time.perf_counter() - started
