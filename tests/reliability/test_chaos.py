"""The chaos run: thousands of get/cancel calls through one client against a faulty server.

About 30% of API requests get a fault from a seeded mix: 503, 429 with ``Retry-After: 1``,
the connection dropped before the request is processed, dropped after it was processed
(the cancel took effect, the answer is lost), and latency beyond the attempt timeout.
Eight threads share one client. The run proves:

* every call ends within its deadline plus a small slack, in success or a typed
  :class:`eemw.EemwError`, never another exception;
* no cancel side effect is applied twice, as the server counts them, with the emulator in
  its faithful default (``Idempotency-Key`` ignored, cancel asynchronous): each operation is
  cancelled by one logical call; a cancel whose answer was lost is sent again and the
  server runs it again, yet applies it once; a re-sent cancel answered "already done" is
  reconciled by the client (one ``get``) instead of failing;
* the counters agree: attempts sent = requests received = calls + retries + the gets
  that reconciled lost cancels.

``EEMW_CHAOS_CALLS`` (default 2000) and ``EEMW_CHAOS_SEED`` (default 7) size and seed it.
The fault *sequence* is reproducible for a seed; which call meets which fault depends on
how the threads interleave.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from reliability_tools import Meters, Report

import eemw
from eemw.emulator import Emulator, EmulatorStats, Fault

THREADS = 8
CALLS = int(os.environ.get("EEMW_CHAOS_CALLS", "2000"))
SEED = int(os.environ.get("EEMW_CHAOS_SEED", "7"))
FAULT_RATE = 0.3
MIX = {"503": 0.3, "429_retry_after": 0.25, "drop_before": 0.15, "drop_after": 0.15, "delay": 0.15}
ATTEMPT_TIMEOUT = 0.2
FAULT_DELAY = 0.4  # > ATTEMPT_TIMEOUT: every delayed answer is a client-side read timeout
# Longer than the emulator's Retry-After of 1 s, so a 429 is retried (after the clamped
# max_retry_after) instead of failing at once as "the server asked for more than is left".
CALL_TIMEOUT = 3.0
SLACK = 2.0  # generous: a loaded 2-core CI machine must not turn scheduling into failures
CANCEL_SHARE = 4  # one call in four is a cancel


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    result: str  # "ok", an EemwError class name, or "UNTYPED ..." for anything else
    seconds: float
    why: str = ""  # for a typed error: how many attempts it took and the last error


def explain(error: eemw.EemwError) -> str:
    last = type(error.last_error).__name__ if error.last_error is not None else "-"
    gave_up = f", gave up: {error.gave_up}" if error.gave_up else ""
    return f"{type(error).__name__} after {error.attempts} attempts, last {last}{gave_up}"


def timed(method: Callable[..., object], name: str) -> tuple[str, float, str]:
    """How one call ended ("ok", "reconciled" or the error's class name), its wall time,
    and why."""
    started = time.monotonic()
    why = ""
    try:
        value = method(name, timeout=CALL_TIMEOUT)
        result = "reconciled" if getattr(value, "reconciled", False) else "ok"
    except eemw.EemwError as error:
        result, why = type(error).__name__, explain(error)
    except Exception as error:  # the property under test: this must never happen
        result = f"UNTYPED {error!r}"
    return result, time.monotonic() - started, why


def run_threads(client: eemw.Client, calls: list[tuple[str, str]]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def worker(share: list[tuple[str, str]]) -> None:
        for kind, name in share:
            result, seconds, why = timed(getattr(client.operations, kind), name)
            with lock:
                outcomes.append(Outcome(kind, name, result, seconds, why))

    threads = [
        threading.Thread(target=worker, args=(calls[i::THREADS],), name=f"chaos-{i}")
        for i in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def cancel_keys(emu: Emulator) -> dict[str, set[str]]:
    """Per cancelled operation path, the idempotency keys its attempts carried."""
    keys: dict[str, set[str]] = {}
    for request in emu.requests:
        if request.path.endswith(":cancel"):
            path = request.path.removesuffix(":cancel")
            keys.setdefault(path, set()).add(request.headers.get("idempotency-key", ""))
    return keys


@dataclass
class Run:
    outcomes: list[Outcome]
    wall: float
    stats: EmulatorStats
    keys: dict[str, set[str]]  # per operation path: the idempotency keys of its cancels
    effects: dict[str, int]  # per operation: cancel side effects the emulator applied
    executions: dict[str, int]  # per operation: cancels the emulator ran, not replayed
    attempts: int
    retries: Counter[str]
    targets: list[str]


def chaos_run(meters: Meters) -> Run:
    """Run CALLS mixed calls from THREADS threads through one client under chaos."""
    # The faithful default: keys ignored, cancel asynchronous (CANCELLING for 2 s).
    with Emulator(record_limit=max(100_000, CALLS * 4)) as emu:
        targets = [
            emu.add_operation("demo", state="RUNNING", duration=1e9, start_after=0.0)
            for _ in range(CALLS // CANCEL_SHARE)
        ]
        rng = random.Random(SEED)
        calls = [("cancel", name) for name in targets]
        calls += [("get", rng.choice(targets)) for _ in range(CALLS - len(calls))]
        rng.shuffle(calls)
        policy = eemw.RetryPolicy(
            initial_backoff=0.001, max_backoff=0.01, max_retry_after=0.01,
            attempt_timeout=ATTEMPT_TIMEOUT,
        )
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(), retry=policy,
            # Generous, so the budget does not shape this run: the storm test covers it.
            retry_budget=eemw.RetryBudget(capacity=1e9),
            meter_provider=meters.provider, sleep=emu.advance,
        ) as client:
            client.operations.get(targets[0])  # the token is fetched before the faults start
            emu.reset_stats()
            emu.clear_requests()
            attempts_before = meters.total("eemw.client.attempts")
            emu.set_chaos(FAULT_RATE, seed=SEED, mix=MIX, delay=FAULT_DELAY)
            started = time.monotonic()
            outcomes = run_threads(client, calls)
            wall = time.monotonic() - started
            emu.clear_faults()
        return Run(
            outcomes, wall, emu.stats, cancel_keys(emu),
            {name: emu.cancel_effects(name) for name in targets},
            {name: emu.cancel_executions(name) for name in targets},
            meters.total("eemw.client.attempts") - attempts_before,
            meters.by_error_type("eemw.client.retries"), targets,
        )


def faults_by_kind(stats: EmulatorStats) -> dict[str, int]:
    # The emulator counts 503 and 429 faults together as "status"; the API itself never
    # answers either, so their response counts tell them apart.
    faults = {k: v for k, v in stats["faults_injected"].items() if k != "status"}
    faults["503"] = stats["responses"].get("503", 0)
    faults["429_retry_after"] = stats["responses"].get("429", 0)
    return faults


@pytest.mark.skipif(CALLS < 100, reason="EEMW_CHAOS_CALLS is too small for a meaningful run")
def test_chaos_run(meters: Meters, reliability_report: Report) -> None:
    run = chaos_run(meters)
    outcomes, stats = run.outcomes, run.stats
    results = Counter(o.result for o in outcomes)
    untyped = [o for o in outcomes if o.result.startswith("UNTYPED")]
    late = [o for o in outcomes if o.seconds > CALL_TIMEOUT + SLACK]
    succeeded = ("ok", "reconciled")
    cancelled_ok = {o.name for o in outcomes if o.kind == "cancel" and o.result in succeeded}
    # A cancel that took effect yet reported "already done" (or a key reused for another
    # call) would be a lost answer the client failed to reconcile.
    misreported = [
        o for o in outcomes
        if o.kind == "cancel" and o.result in ("FailedPreconditionError", "InvalidArgumentError")
    ]
    several_keys = {path: k for path, k in run.keys.items() if len(k) != 1}
    all_keys = [key for keys in run.keys.values() for key in keys]
    faults = faults_by_kind(stats)
    retries = sum(run.retries.values())
    # Duplicates as the server sees them: a cancel applied more than once.
    applied_twice = sum(1 for n in run.effects.values() if n > 1)
    duplicates = applied_twice + len(misreported) + len(several_keys)
    rerun = sum(1 for n in run.executions.values() if n > 1)
    reconciled = results["reconciled"]

    reliability_report.add("chaos", {
        "calls": len(outcomes),
        "threads": THREADS,
        "seed": SEED,
        "emulator": "faithful (Idempotency-Key ignored, cancel_delay 2 s)",
        "wall_seconds": round(run.wall, 2),
        "successes": results["ok"] + reconciled,
        "reconciled_cancels": reconciled,
        "typed_errors": {k: v for k, v in sorted(results.items()) if k not in succeeded},
        "typed_errors_why": dict(sorted(Counter(o.why for o in outcomes if o.why).items())),
        "untyped_errors": len(untyped),
        "api_requests": stats["api_requests"],
        "faults_injected": faults,
        "faults_total": stats["faults_total"],
        "retries": retries,
        "retries_by_error": dict(sorted(run.retries.items())),
        "slowest_call_seconds": round(max(o.seconds for o in outcomes), 3),
        "deadline_plus_slack_seconds": CALL_TIMEOUT + SLACK,
        "cancels": len(run.targets),
        "cancels_applied": stats["cancels_applied"],
        "cancels_rerun_by_the_server": rerun,
        "idempotent_replays": stats["idempotent_replays"],
        "duplicates_found": duplicates,
    })

    assert len(outcomes) == CALLS
    assert untyped == []
    assert late == []
    # No side effect twice, counted by the server: at most one effect per operation, one
    # key per logical cancel, and no cancel that took effect reported as refused.
    assert duplicates == 0, (several_keys, misreported)
    assert all(run.effects[name] == 1 for name in cancelled_ok)
    assert stats["cancels_applied"] == sum(run.effects.values())
    assert len(all_keys) == len(set(all_keys)) == len(run.targets)
    # The run was meaningful: every kind of fault struck, the server ignored keys, and
    # answers lost after a cancel took effect made the server run cancels again.
    assert all(faults[kind] > 0 for kind in MIX), faults
    assert stats["idempotent_replays"] == 0
    assert rerun > 0
    # Counters agree: each logical call is one attempt plus its retries, plus the
    # reconciling get of each reconciled cancel. On a loaded machine the server may count
    # an attempt the client already gave up on (a read timeout) after the stats are read.
    assert run.attempts == CALLS + retries + reconciled
    timed_out = run.retries["ReadTimeoutError"] + results["ReadTimeoutError"]
    assert 0 <= run.attempts - stats["api_requests"] <= timed_out
    # Retries work: with five attempts against a 30% fault rate nearly every call succeeds.
    assert results["ok"] + reconciled >= 0.9 * CALLS, results


def test_the_deadline_is_what_ends_calls_that_keep_timing_out() -> None:
    # Every answer comes after the attempt timeout. Ten attempts of 0.2 s would take 2 s, so
    # only the 0.5 s deadline can end these calls in time: a retry stage that ignored it
    # would fail this test.
    deadline, slack = 0.5, 0.5
    with Emulator() as emu:
        names = [emu.add_operation("demo", state="RUNNING") for _ in range(THREADS)]
        policy = eemw.RetryPolicy(
            initial_backoff=0.001, max_backoff=0.01, max_attempts=10, attempt_timeout=0.2
        )
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(), retry=policy,
            retry_budget=eemw.RetryBudget(capacity=1e9), sleep=emu.advance,
        ) as client:
            client.operations.get(names[0])  # the token is fetched before the faults start
            emu.add_fault(Fault(kind="delay", delay=0.4, times=None))
            seconds: list[float] = []
            errors: list[type[BaseException]] = []
            lock = threading.Lock()

            def worker(name: str) -> None:
                for _ in range(3):
                    started = time.monotonic()
                    try:
                        client.operations.get(name, timeout=deadline)
                    except Exception as error:
                        with lock:
                            errors.append(type(error))
                    with lock:
                        seconds.append(time.monotonic() - started)

            threads = [threading.Thread(target=worker, args=(n,)) for n in names]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            emu.clear_faults()
    assert len(seconds) == len(errors) == 3 * THREADS
    # The deadline ended each call: a DeadlineExceededError, or the last attempt's read
    # timeout when the next retry would have passed it. Either way, one base class.
    assert all(issubclass(kind, eemw.TimedOutError) for kind in errors), set(errors)
    assert max(seconds) <= deadline + slack, max(seconds)
