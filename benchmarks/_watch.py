"""Watch: ``wait_many`` over list pages against per-operation polling (the old algorithm).

Both run against an in-process emulator on its own clock: the client's clock is the
emulator's, its sleeps advance it, and every request costs 10 ms of emulated time (a
stage in the client's attempt phase), the pace of the project quota of 100 requests/s.
So a round of 3,000 gets takes the 30 s it would take on the real service, and the
completion lag (emulated seconds from an operation's end to ``wait_many`` seeing it) is
what a user would see. Requests are counted at the emulator.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._config import Config
from ._measure import Section, Table, Target, percentile

POLL = 5.0
QUOTA_PACE = 0.01  # seconds of emulated time per request: 100 requests/s
SPREAD = 300.0  # operations finish evenly over this many emulated seconds


@dataclass
class Outcome:
    requests: int
    lags: list[float]  # from the operation's end
    after_shown: list[float]  # from the first response that showed it done
    wall: float
    cpu: float  # the calling thread's: the client's, not the emulator's
    finished: bool


def run(cfg: Config) -> tuple[Section, dict[int, tuple[Outcome, Outcome]]]:
    sizes = (20, 60) if cfg.smoke else (100, 1_000, 3_000)
    section = Section(
        "Watch",
        f"`wait_many` of N operations finishing evenly over {SPREAD:g} s, polling every "
        f"{POLL:g} s, against per-operation `get` polling with the same schedule (the "
        "algorithm `wait_many` used before: one get per unfinished operation per round). "
        "The emulator runs in this process on its own clock; every request costs "
        f"{QUOTA_PACE * 1000:g} ms of emulated time (100 requests/s, the project quota), so "
        "lags are in emulated seconds, as a user would see them. Requests are counted at "
        "the emulator.",
    )
    table = Table("`wait_many`: requests and completion lag",
                  ["N", "algorithm", "requests", "requests ÷ list", "lag mean s",
                   "lag p95 s", "lag max s", "after its response, max s", "client CPU s", "wall s"])
    results: dict[int, tuple[Outcome, Outcome]] = {}
    for size in sizes:
        pages = _measure(size, _wait_many)
        gets = _measure(size, _per_operation)
        results[size] = (pages, gets)
        for name, got in (("list pages (wait_many)", pages), ("get per operation", gets)):
            table.rows.append([
                f"{size:,}", name, f"{got.requests:,}", f"{got.requests / pages.requests:.1f}x",
                f"{sum(got.lags) / len(got.lags):.2f}", f"{percentile(got.lags, 0.95):.2f}",
                f"{max(got.lags):.2f}", f"{max(got.after_shown):.2f}", f"{got.cpu:.1f}",
                f"{got.wall:.1f}",
            ])
    table.notes.append(
        "lag: emulated seconds from an operation's end to the round that reported it done "
        "(`on_update`). After its response: from the first response (page or get) that "
        "showed it done to that report."
    )
    table.notes.append(
        "client CPU: the calling thread's CPU time (the client's); wall: real seconds, "
        "including the in-process emulator rendering every page and answer (it shares "
        "this process). Pages carry up to 1,000 operations each, all parsed."
    )
    section.tables.append(table)
    return section, results


def _measure(size: int, algorithm: Callable[[Any, list[str], Callable[[Any], None]], None]
             ) -> Outcome:
    import eemw
    from eemw.emulator import Emulator

    with Emulator() as emu:
        ends = {}
        for i in range(size):
            # Golden-ratio steps: spread evenly, but never in step with the rounds.
            duration = 1.0 + SPREAD * ((i * 0.6180339887) % 1.0)
            name = emu.add_operation("demo", state="RUNNING", start_after=0.0,
                                     duration=duration)
            ends[name] = duration
        seen: dict[str, float] = {}
        shown: dict[str, float] = {}

        def on_update(op: Any) -> None:
            if op.done and op.name not in seen:
                seen[op.name] = emu.now

        def pace(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            emu.advance(QUOTA_PACE)
            response = call_next(request)
            if response.status == 200:
                body = response.json()
                for op in body.get("operations", [body]):
                    if op.get("done") and op.get("name") not in shown:
                        shown[op["name"]] = emu.now
            return response

        with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                         clock=lambda: emu.now, sleep=emu.advance,
                         middleware=[eemw.Entry("quota-pace", pace, "attempt")]) as client:
            client.operations.get(next(iter(ends)))  # token ready before counting
            before = emu.stats["api_requests"]
            started, cpu = time.perf_counter(), time.thread_time()
            algorithm(client, list(ends), on_update)
            wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
            requests = emu.stats["api_requests"] - before
    lags = [seen[n] - end for n, end in ends.items() if n in seen]
    after = [seen[n] - shown[n] for n in seen]
    return Outcome(requests, lags or [float("nan")], after or [float("nan")], wall, cpu,
                   len(seen) == size)


def _wait_many(client: Any, names: list[str], on_update: Callable[[Any], None]) -> None:
    results = client.operations.wait_many(names, timeout=SPREAD * 10, poll_interval=POLL,
                                          max_poll_interval=POLL, on_update=on_update)
    if not all(r.done for r in results):
        raise RuntimeError("wait_many ended before every operation was done")


def _per_operation(client: Any, names: list[str], on_update: Callable[[Any], None]) -> None:
    """The baseline: one get per unfinished operation per round, then the same pause."""
    waiting = list(names)
    while waiting:
        still = []
        for name in waiting:
            op = client.operations.get(name)
            on_update(op)
            if not op.done:
                still.append(name)
        waiting = still
        if waiting:
            client.sleep(POLL)


def targets(results: dict[int, tuple[Outcome, Outcome]]) -> list[Target]:
    """≥ 50x fewer requests at 1,000 operations; every change reported within one poll
    interval of the page that shows it."""
    if not results:
        return [Target("`wait_many` requests", "≥ 50x fewer than per-operation polling", "—",
                       None)]
    size = 1_000 if 1_000 in results else max(results)
    pages, gets = results[size]
    ratio = gets.requests / pages.requests
    found = [Target(f"`wait_many` of {size:,}: requests", "≥ 50x fewer than per-operation gets",
                    f"{ratio:.0f}x", ratio >= 50)]
    worst = max(max(p.after_shown) for p, _ in results.values())
    found.append(Target("`wait_many`: a change reported after the page that shows it",
                        f"within one poll interval ({POLL:g} s)", f"{worst:.2f} s",
                        worst <= POLL))
    return found
