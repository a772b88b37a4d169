"""Memory: resident set growth over many calls through one client."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable

import eemw

from ._config import Config
from ._emulator import EmulatorProcess
from ._measure import Section, Table
from ._overhead import NAME, canned_transport, credentials

MIB = 1024 * 1024


def rss() -> int:
    """This process's resident set size in bytes."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def run(cfg: Config) -> tuple[Section, float]:
    import eemw

    section = Section(
        "Memory",
        "Resident set size of the benchmark process around many calls (half `get`, half "
        "`cancel`, each cancel with its own idempotency key) through one client, after a "
        f"warm-up of {cfg.memory_warmup:,} calls and a `gc.collect()`. The idempotency replay "
        "cache holds 1,024 keys by default, so every measured cancel evicts one: a cache "
        "without a bound would show here as growth. The in-memory run uses a canned "
        "transport that keeps nothing (MockTransport records every request, by design).",
    )
    table = Table("RSS growth", ["run", "calls", "RSS before MiB", "RSS after MiB",
                                 "growth MiB", "trend (MiB at each tenth)"])
    client = eemw.Client("demo", credentials=credentials(), transport=canned_transport())
    growth = _row(table, "in memory (canned transport)", client, NAME, cfg.memory_calls,
                  cfg.memory_warmup)
    with EmulatorProcess(seed=10) as emu:
        name = next(op["name"] for op in emu.operations() if not op.get("done"))
        with eemw.Client(emu.project, endpoint=emu.url, credentials=emu.credentials()) as real:
            _row(table, "real transport (emulator)", real, name, cfg.memory_real_calls,
                 min(1000, cfg.memory_warmup))
    section.tables.append(table)
    return section, growth


def _row(table: Table, label: str, client: object, name: str, calls: int, warmup: int) -> float:
    step = _stepper(client, name)
    for i in range(warmup):
        step(i)
    gc.collect()
    before = rss()
    trend = []
    tenth = max(1, calls // 10)
    for i in range(calls):
        step(i)
        if (i + 1) % tenth == 0:
            trend.append(f"{(rss() - before) / MIB:+.1f}")
    gc.collect()
    after = rss()
    growth = (after - before) / MIB
    table.rows.append([label, f"{calls:,}", f"{before / MIB:.1f}", f"{after / MIB:.1f}",
                       f"{growth:+.2f}", " ".join(trend)])
    return growth


def _stepper(client: object, name: str) -> Callable[[int], object]:
    ops = client.operations  # type: ignore[attr-defined]

    def step(i: int) -> object:
        if i % 2:
            return ops.get(name)
        # A caller's own key is what the replay cache records: every cancel adds one, so an
        # unbounded cache would show as growth. After the first, the server answers "already
        # done", which the cache records too.
        try:
            return ops.cancel(name, idempotency_key=f"bench-{i}")
        except eemw.FailedPreconditionError:
            return None

    return step
