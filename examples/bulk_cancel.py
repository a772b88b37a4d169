"""Cancel many operations at once with ``client.operations.cancel_many``.

Shows how a bulk cancel behaves: the cancels run concurrently through the full stack
(retries, idempotency keys, plugins), one failure never stops the others, and every name
gets a :class:`eemw.CancelResult` — ``cancelled``, ``already_done``, ``not_found`` or
``error`` with its typed error. A couple of injected 503s are retried on the way.

Runs against the embedded emulator:

    python examples/bulk_cancel.py

The ``eemw`` command does the same for a project's queued and running tasks with
``eemw operations cancel --all --state PENDING,RUNNING --yes`` (``--yes`` because off a
terminal nothing asks for confirmation; on one, leave it out and answer the prompt).
"""

from __future__ import annotations

import threading
from collections import Counter

import eemw
from eemw.emulator import Emulator, Fault

_print_lock = threading.Lock()


def report(result: eemw.CancelResult) -> None:
    """Called from the worker threads as each cancel finishes, so it prints under a lock."""
    with _print_lock:
        print(f"  {result.name.rsplit('/', 1)[1]:<24} {result.outcome}")


def main() -> int:
    with Emulator() as emu:
        for i in range(12):
            emu.add_operation("demo", state="RUNNING" if i % 3 else "PENDING",
                              description=f"export tile {i}")
        finished = emu.add_operation("demo", state="SUCCEEDED", description="already done")
        emu.add_fault(Fault(status=503, times=2, path_contains=":cancel"))

        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            retry=eemw.RetryPolicy(initial_backoff=0.01, max_backoff=0.05),
        ) as client:
            # Pick what to cancel: everything still queued or running (filtered lazily).
            targets = [op.name for op in client.operations.list(state=["PENDING", "RUNNING"])]
            # Two more, to show the other outcomes: one already done, one that never existed.
            targets += [finished, "projects/demo/operations/NO_SUCH_TASK"]
            print(f"cancelling {len(targets)} operations with 4 workers…")

            results = client.operations.cancel_many(targets, max_workers=4, on_result=report)

        counts = Counter(r.outcome for r in results)
        print("\nsummary:", ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())))
        for result in results:
            if not result.ok:
                print(f"not cancelled: {result.name}: {type(result.error).__name__}")
        applied = sum(emu.cancel_effects(name) for name in targets[:-1])
        print(f"the emulator applied {applied} cancels (each exactly once, despite the retries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
