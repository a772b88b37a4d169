"""``python -m benchmarks``: run every section, print the tables, write RESULTS.md."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import (
    _e2e,
    _earthengine,
    _fleet,
    _memory,
    _overhead,
    _paging,
    _scale,
    _startup,
    _watch,
)
from ._config import FULL, SMOKE, Config
from ._measure import Section, Table, Target
from ._peers import versions

SECTIONS = (
    "e2e", "overhead", "startup", "paging", "scale", "memory", "earthengine", "fleet",
    "watch",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="few iterations: checks the harness")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/RESULTS.md"))
    parser.add_argument("--via", help="the command that started this run, e.g. 'make bench'")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    args = parser.parse_args(argv)
    cfg = SMOKE if args.smoke else FULL
    given = sys.argv[1:] if argv is None else argv
    exact = shlex.join([sys.executable, "-m", "benchmarks", *given])
    command = f"{args.via}\n# which ran, from the repository root:\n{exact}" if args.via else exact
    run = Run(cfg, set(args.only or SECTIONS))
    started = time.perf_counter()
    run.all()
    elapsed = time.perf_counter() - started
    text = render(run, command, elapsed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"\nwrote {args.out} in {elapsed:.0f}s", flush=True)
    return 1 if run.failed else 0


class Run:
    """The sections of one run and what the targets need from them."""

    def __init__(self, cfg: Config, chosen: set[str]) -> None:
        self.cfg = cfg
        self.chosen = chosen
        self.sections: list[Section] = []
        self.failed: list[str] = []
        self.e2e: dict[str, Any] = {}
        self.import_ratio: float | None = None
        self.cold_ratio: float | None = None
        self.paging: dict[str, Any] = {}
        self.scale: dict[str, Any] = {}
        self.memory_growth: float | None = None
        self.earthengine: dict[str, Any] = {}
        self.fleet: dict[str, Any] = {}
        self.watch: dict[int, Any] = {}

    def all(self) -> None:
        self._section("e2e", self._e2e)
        self._section("overhead", self._overhead)
        self._section("startup", self._startup)
        self._section("paging", self._paging)
        self._section("scale", self._scale)
        self._section("memory", self._memory)
        self._section("earthengine", self._earthengine)
        self._section("fleet", self._fleet)
        self._section("watch", self._watch)

    def _section(self, key: str, body: Callable[[], Section]) -> None:
        if key not in self.chosen:
            return
        print(f"\n== {key} ...", flush=True)
        try:
            section = body()
        except Exception:
            self.failed.append(key)
            section = Section(f"{key}: FAILED", "```\n" + traceback.format_exc() + "```")
        self.sections.append(section)
        print(section.markdown(), flush=True)

    def _e2e(self) -> Section:
        section, self.e2e = _e2e.run(self.cfg)
        return section

    def _overhead(self) -> Section:
        raw = self.e2e.get("get", {}).get(_e2e.BASELINE)
        return _overhead.run(self.cfg, raw.wall_median if raw else None)

    def _startup(self) -> Section:
        section, ratios = _startup.run(self.cfg)
        self.import_ratio, self.cold_ratio = ratios["import"], ratios["cold"]
        return section

    def _paging(self) -> Section:
        section, self.paging = _paging.run(self.cfg)
        return section

    def _scale(self) -> Section:
        section, self.scale = _scale.run(self.cfg)
        return section

    def _memory(self) -> Section:
        section, self.memory_growth = _memory.run(self.cfg)
        return section

    def _earthengine(self) -> Section:
        section, self.earthengine = _earthengine.run(self.cfg)
        return section

    def _fleet(self) -> Section:
        section, self.fleet = _fleet.run(self.cfg)
        return section

    def _watch(self) -> Section:
        section, self.watch = _watch.run(self.cfg)
        return section

    def targets(self) -> list[Target]:
        found = [*self._call_targets(), *_watch.targets(self.watch)]
        r = self.import_ratio
        found.append(Target("`import eemw; eemw.Client`", "≤ 1.1x its 4 dependencies",
                            f"{r:.2f}x" if r else "—", None if r is None else r <= 1.1))
        found += self._cold_and_paging_targets()
        speedups = self.scale.get("cancel_speedup", {})
        size = max(speedups, default=None)
        found.append(Target(
            f"cancel_many of {size or 1000:,} at {self.cfg.cancel_latency_ms:g} ms",
            "≥ 10x faster than the sequential loop",
            f"{speedups[size]:.1f}x" if size else "—",
            None if size is None else speedups[size] >= 10,
        ))
        per_op = self.scale.get("list_per_op", {})
        if len(per_op) >= 2:
            small, big = sorted(per_op)[-2:]
            cpu = per_op[big][1] / per_op[small][1]
            wall = per_op[big][0] / per_op[small][0]
            found.append(Target(
                f"eemw list client CPU per operation, {small:,} → {big:,} operations",
                "flat (within ±20%)", f"{cpu:.2f}x (wall: {wall:.2f}x)", 0.8 <= cpu <= 1.2,
            ))
        else:
            found.append(Target("list cost per operation", "flat", "—", None))
        for kind in _earthengine.KINDS:
            r = _earthengine.wall_ratio(self.earthengine, kind)
            found.append(Target(f"ee `{kind}` through eemw, wall", "≤ 1.0x ee alone",
                                f"{r:.2f}x" if r else "—", None if r is None else r <= 1.0))
        g = self.memory_growth
        found.append(Target(f"RSS growth over {self.cfg.memory_calls:,} calls", "≤ 5 MiB",
                            f"{g:+.2f} MiB" if g is not None else "—",
                            None if g is None else g <= 5))
        return found + _fleet.targets(self.fleet)

    def _cold_and_paging_targets(self) -> list[Target]:
        def ratio(value: float | None) -> str:
            return f"{value:.2f}x" if value is not None else "—"

        cold = self.cold_ratio
        ratios = self.paging.get("ratios", {})
        mine, ee = ratios.get(_paging.COUNTED), ratios.get(_paging.EE)
        memory = self.paging.get("memory")
        return [
            Target("fresh process to first result, service-account credentials",
                   "≤ 1.0x google-auth AuthorizedSession", ratio(cold),
                   None if cold is None else cold <= 1.0),
            Target(f"list {self.cfg.paging_operations:,} operations (replayed pages)",
                   "≤ 0.8x requests + json", ratio(mine), None if mine is None else mine <= 0.8),
            Target(f"list {self.cfg.paging_operations:,} operations (replayed pages)",
                   "ahead of ee.data.listOperations", f"{ratio(mine)} vs {ratio(ee)}",
                   None if mine is None or ee is None else mine < ee),
            Target("memory while paging", "≤ 1.5x one page (bytes + decoded)", ratio(memory),
                   None if memory is None else memory <= 1.5),
        ]

    def _call_targets(self) -> list[Target]:
        found = []
        for kind in ("get", "cancel"):
            samples = self.e2e.get(kind, {})
            mine, base = samples.get("eemw"), samples.get(_e2e.BASELINE)
            for what, goal, attr in (("wall", 0.65, "wall_median"), ("CPU", 0.6, "cpu_median")):
                r = getattr(mine, attr) / getattr(base, attr) if mine and base else None
                found.append(Target(f"eemw `{kind}` {what}", f"≤ {goal}x raw requests",
                                    f"{r:.2f}x" if r else "—", None if r is None else r <= goal))
        return found


def machine() -> Table:
    table = Table("Machine", ["", "value"])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    table.rows += [
        ["CPU", _cpu_model()],
        ["cores available", str(cpus)],
        ["OS", platform.platform()],
        ["Python", f"{platform.python_implementation()} {platform.python_version()}"],
        ["date (UTC)", dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")],
    ]
    if hasattr(os, "getloadavg"):
        table.rows.append(["load average (1, 5, 15 min) at the end",
                           ", ".join(f"{x:.2f}" for x in os.getloadavg())])
    return table


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render(run: Run, command: str, elapsed: float) -> str:
    kind = "SMOKE run (few iterations: checks the harness, the numbers mean little)" \
        if run.cfg.smoke else "full run"
    vers = Table("Versions", ["package", "version"], [[k, v] for k, v in versions().items()])
    targets = Table("Targets", ["target", "goal", "measured", "verdict"],
                    [[t.name, t.goal, t.measured, t.verdict] for t in run.targets()])
    targets.notes.append("Targets are reported, never enforced: no number fails the run.")
    parts = [
        "# eemw benchmark results", "",
        f"A {kind}, {elapsed:.0f} s. Reproduce with `make bench` (builds `.bench-venv` with "
        "eemw and the peers, no OpenTelemetry SDK). The command:", "",
        f"```\n{command}\n```", "",
        "Every ratio compares numbers measured in this same run. The emulator always runs in "
        "its own process; client CPU is the calling thread's CPU time.", "",
        machine().markdown(), vers.markdown(), targets.markdown(),
        "## Sections", "",
    ]
    parts += [s.markdown() for s in run.sections]
    if run.failed:
        parts += [f"**Sections that failed: {', '.join(run.failed)}.**", ""]
    return "\n".join(parts)
