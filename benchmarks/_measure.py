"""Timing, statistics and the tables every section prints."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Samples:
    """Per-call wall and client CPU times, in nanoseconds."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    @property
    def wall_p99(self) -> float:
        return percentile(self.wall, 0.99)

    @property
    def cpu_p99(self) -> float:
        return percentile(self.cpu, 0.99)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def time_calls(fn: Callable[[], object], n: int, into: Samples) -> None:
    """Time ``n`` calls one by one: wall clock, and CPU of this thread only.

    The emulator runs in another process, so this thread's CPU time is the client's.
    """
    wall = time.perf_counter_ns
    cpu = time.thread_time_ns
    walls, cpus = into.wall, into.cpu
    for _ in range(n):
        c0 = cpu()
        w0 = wall()
        fn()
        w1 = wall()
        c1 = cpu()
        walls.append(w1 - w0)
        cpus.append(c1 - c0)


def interleaved(
    fns: Mapping[str, Callable[[], object]], *, rounds: int, block: int, warmup: int
) -> dict[str, Samples]:
    """Blocks of calls, round-robin across the contenders, so drift hits all alike.

    Each round starts with the next contender (rotation), so none always runs first.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    out = {name: Samples() for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            time_calls(fns[name], block, out[name])
    return out


def time_batch(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per call over a batch of ``n`` calls."""
    c0 = time.thread_time()
    w0 = time.perf_counter()
    for _ in range(n):
        fn()
    w1 = time.perf_counter()
    c1 = time.thread_time()
    return (w1 - w0) / n, (c1 - c0) / n


def interleaved_batches(
    fns: Mapping[str, Callable[[], object]],
    *,
    rounds: int,
    batch: int,
    warmup: int,
    between: Callable[[], object] = lambda: None,
    pick: Callable[[list[float]], float] = statistics.median,
) -> dict[str, tuple[float, float]]:
    """Each contender's per-call (wall, CPU) seconds: ``pick`` (median) over the rounds."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            between()
            gc.collect()
            wall, cpu = time_batch(fns[name], batch)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {n: (pick(walls[n]), pick(cpus[n])) for n in names}


def us(ns: float) -> str:
    """Nanoseconds as microseconds for a table."""
    return f"{ns / 1000:.1f}"


def ratio(value: float, base: float | None) -> str:
    if not base:
        return "n/a"
    return f"{value / base:.2f}x"


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"#### {self.title}", ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        aligns = ["---"] + ["---:"] * (len(self.columns) - 1)
        lines.append("|" + "|".join(aligns) + "|")
        lines.extend("| " + " | ".join(row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"


def per_call_table(kind: str, samples: dict[str, Samples], who: str, base: str) -> Table:
    """Per-call wall and CPU percentiles of each of ``samples``, with ratios to ``base``'s."""
    baseline = samples.get(base)
    table = Table(
        f"`{kind}`",
        [who, "wall median µs", "wall p99 µs", "CPU median µs", "CPU p99 µs",
         f"wall ÷ {base}", f"CPU ÷ {base}"],
    )
    for name, s in samples.items():
        table.rows.append([
            name, us(s.wall_median), us(s.wall_p99), us(s.cpu_median), us(s.cpu_p99),
            ratio(s.wall_median, baseline.wall_median if baseline else None),
            ratio(s.cpu_median, baseline.cpu_median if baseline else None),
        ])
    return table


@dataclass
class Target:
    """One of the issue's targets: what was measured and whether it was met."""

    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**not met**", None: "not measured"}[self.met]


@dataclass
class Section:
    title: str
    intro: str = ""
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        parts = [f"### {self.title}", ""]
        if self.intro:
            parts += [self.intro, ""]
        parts += [t.markdown() for t in self.tables]
        if self.notes:
            parts += [f"- {n}" for n in self.notes] + [""]
        return "\n".join(parts)
