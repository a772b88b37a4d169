"""The retry storm: the server answers 503 to everything for a while, many callers keep calling.

Without a budget every caller would retry up to ``max_attempts`` times, multiplying the
load on a service that is already down. The client-wide :class:`eemw.RetryBudget` caps the
extra attempts at what its bucket holds (``capacity / retry_cost`` retries; nothing is
refunded while nothing succeeds), whatever the number of callers. After the outage, calls
succeed at once, every success refunds ``refund`` tokens, and once the bucket holds
``retry_cost`` again a failed attempt is retried again.
"""

from __future__ import annotations

import math
import threading

from reliability_tools import Report

import eemw
from eemw.emulator import Emulator, Fault

THREADS = 8
CALLS_PER_THREAD = 25
POLICY = eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.01, max_attempts=5)


def call_from_threads(client: eemw.Client, name: str) -> list[BaseException | None]:
    """``THREADS`` x ``CALLS_PER_THREAD`` gets of ``name``; the error of each, or None."""
    results: list[BaseException | None] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(CALLS_PER_THREAD):
            try:
                client.operations.get(name)
                error: BaseException | None = None
            except Exception as caught:
                error = caught
            with lock:
                results.append(error)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_retry_storm_is_bounded_by_the_budget_and_recovers(reliability_report: Report) -> None:
    budget = eemw.RetryBudget()  # the defaults a user gets
    affordable = math.floor(budget.capacity / budget.retry_cost)
    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(), retry=POLICY,
            retry_budget=budget, sleep=emu.advance,
        ) as client:
            client.operations.get(name)  # the token is fetched before the outage
            emu.reset_stats()

            emu.add_fault(Fault(status=503, times=None))
            during = call_from_threads(client, name)
            outage_attempts = emu.stats["api_requests"]
            emu.clear_faults()
            tokens_after_outage = budget.tokens

            # Still empty right after the outage: a failed attempt is not retried yet.
            emu.add_fault(Fault(status=503, times=1))
            emu.reset_stats()
            try:
                client.operations.get(name)
                first_after: BaseException | None = None
            except eemw.EemwError as caught:
                first_after = caught
            attempts_while_empty = emu.stats["api_requests"]

            after = call_from_threads(client, name)
            tokens_after_recovery = budget.tokens

            # Refilled: a failed attempt is retried again and the call succeeds.
            emu.add_fault(Fault(status=503, times=1))
            emu.reset_stats()
            recovered = client.operations.get(name)
            attempts_when_refilled = emu.stats["api_requests"]

    calls = len(during)
    stopped_by_budget = [
        e for e in during if isinstance(e, eemw.EemwError) and e.gave_up == "budget"
        and e.attempts == 1
    ]
    reliability_report.add("retry_storm", {
        "callers": THREADS,
        "calls_during_outage": calls,
        "attempts_during_outage": outage_attempts,
        "attempts_without_a_budget": calls * POLICY.max_attempts,
        "budget": {"capacity": budget.capacity, "retry_cost": budget.retry_cost,
                   "refund": budget.refund},
        "calls_stopped_by_budget": len(stopped_by_budget),
        "calls_after_outage": len(after),
        "successes_after_outage": sum(e is None for e in after),
    })

    # Every call in the outage failed with the 503's own type, whether retrying stopped on
    # attempts or on the budget (and it says retrying stopped).
    assert all(isinstance(e, eemw.UnavailableError) for e in during), during
    assert all(isinstance(e, eemw.RetryExhaustedError) for e in during), during
    # Attempts: one per call plus what the bucket could pay for, not calls x max_attempts.
    assert outage_attempts == calls + affordable
    assert tokens_after_outage < budget.retry_cost
    assert len(stopped_by_budget) >= calls - affordable
    # Right after the outage the bucket is still empty: no retry, the 503 surfaces.
    assert isinstance(first_after, eemw.UnavailableError)
    assert first_after.gave_up == "budget"
    assert "retry budget is empty" in str(first_after)
    assert attempts_while_empty == 1
    # Calls succeed again, and their successes refill the bucket.
    assert after == [None] * len(after)
    expected_tokens = min(budget.capacity, tokens_after_outage + len(after) * budget.refund)
    assert tokens_after_recovery == expected_tokens
    assert recovered.name == name
    assert attempts_when_refilled == 2
