"""End to end, per call: get, cancel and list against the emulator in its own process."""

from __future__ import annotations

from ._config import Config
from ._emulator import EmulatorProcess
from ._measure import Samples, Section, interleaved, per_call_table
from ._peers import KINDS, Targets, peers

BASELINE = "requests"


def run(cfg: Config) -> tuple[Section, dict[str, dict[str, Samples]]]:
    section = Section(
        "End to end, per call",
        "Each client calls the emulator (a separate process, auth on, no added latency) "
        f"over one keep-alive connection. Interleaved blocks of {cfg.e2e_block} calls, "
        f"{cfg.e2e_rounds} rounds, round-robin with a rotating start; per-call wall time and "
        "the calling thread's CPU time (the client's only). Ratios are to raw requests "
        "(`Session.get/post` + `raise_for_status()` + `.json()`) in this run. `list` reads "
        "one page of 10 operations.",
    )
    with EmulatorProcess(seed=10) as emu:
        live = [op["name"] for op in emu.operations() if not op.get("done")]
        targets = Targets(emu.project, get_name=live[0], cancel_name=live[1])
        made, notes = peers(emu, targets)
        section.notes.extend(notes)
        results: dict[str, dict[str, Samples]] = {}
        try:
            for kind in KINDS:
                fns = {p.name: p.calls[kind] for p in made if kind in p.calls}
                results[kind] = interleaved(
                    fns, rounds=cfg.e2e_rounds, block=cfg.e2e_block, warmup=cfg.e2e_warmup
                )
                section.tables.append(per_call_table(kind, results[kind], "client", BASELINE))
        finally:
            for p in made:
                p.close()
    return section, results
