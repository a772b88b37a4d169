"""How much work each section does: the full run, and the quick smoke pass."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    smoke: bool
    e2e_rounds: int
    e2e_block: int
    e2e_warmup: int
    overhead_rounds: int
    overhead_batch: int
    import_reps: int
    coldstart_reps: int
    list_sizes: tuple[int, ...]
    list_op_budget: int
    cancel_sizes: tuple[int, ...]
    cancel_latency_ms: float
    memory_calls: int
    memory_warmup: int
    memory_real_calls: int
    paging_operations: int
    paging_rounds: int


FULL = Config(
    smoke=False,
    e2e_rounds=20, e2e_block=200, e2e_warmup=200,
    overhead_rounds=9, overhead_batch=2000,
    import_reps=25, coldstart_reps=15,
    list_sizes=(10, 1_000, 10_000), list_op_budget=60_000,
    cancel_sizes=(100, 1_000), cancel_latency_ms=20.0,
    memory_calls=100_000, memory_warmup=5_000, memory_real_calls=20_000,
    paging_operations=10_000, paging_rounds=11,
)

SMOKE = Config(
    smoke=True,
    e2e_rounds=2, e2e_block=10, e2e_warmup=3,
    overhead_rounds=2, overhead_batch=50,
    import_reps=1, coldstart_reps=1,
    list_sizes=(10, 100), list_op_budget=300,
    cancel_sizes=(5, 10), cancel_latency_ms=20.0,
    memory_calls=2_000, memory_warmup=200, memory_real_calls=100,
    paging_operations=2_000, paging_rounds=2,
)
