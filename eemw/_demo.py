"""``make demo`` / ``eemw demo``: real calls through the full stack to the embedded emulator.

Starts the emulator on 127.0.0.1 with a real-time clock, seeds the demo dataset (the same
tasks ``eemw --emulator`` and ``eemw emulator`` start with), and runs list, get, cancel and
wait through :class:`eemw.Client` over HTTP, printing what a person wants to read. Needs
nothing but eemw itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from ._client import Client
from ._models import Operation
from .middleware.retry import RetryPolicy

# Tasks of the demo dataset, by description: one to inspect, one to cancel, one to wait for.
_GET, _CANCEL, _WAIT = "Sentinel-2 median, 2025", "Field boundaries", "DEM tile 42"


def main(out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the process exit code."""
    from .emulator import Emulator, seed_demo

    say: Callable[[str], object] = lambda text: print(text, file=out, flush=True)  # noqa: E731
    with Emulator(realtime=True) as emu:
        names = seed_demo(emu)
        by_text = {(emu.operation(n) or {})["metadata"]["description"]: n for n in names}
        get_name, cancel_name, wait_name = by_text[_GET], by_text[_CANCEL], by_text[_WAIT]
        say(f"eemw demo: emulator listening on {emu.url} (a real HTTP server on loopback)\n")
        with Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            retry=RetryPolicy(initial_backoff=0.05, max_backoff=0.5),
        ) as client:
            say("The stack every call goes through (outermost first):")
            say(client.stack.describe() + "\n")
            say("list: the project's operations")
            for op in client.operations.list(page_size=2):
                say("  " + _row(op))
            first = client.operations.get(get_name)
            say(f"\nget {first.id}: {first.state.value}, {_progress(first)} done, "
                f"priority {first.metadata.priority}")
            client.operations.cancel(cancel_name)
            cancelling = client.operations.get(cancel_name)
            say(f"cancel {cancelling.id}: now {cancelling.state.value} (cancel is asynchronous "
                "on Earth Engine)")
            cancelled = client.operations.wait(cancel_name, timeout=30, poll_interval=0.25)
            say(f"  → {cancelled.state.value} "
                f"(error code {cancelled.error.code if cancelled.error else '-'})")
            say(f"wait {wait_name.rsplit('/', 1)[1]}: waiting for it to finish…")
            done = client.operations.wait(wait_name, timeout=30, poll_interval=0.25)
            say(f"  → {done.state.value} at {_when(done)}")
        api = [r for r in emu.requests if not r.path.startswith("/token")]
        tokens = len(emu.requests) - len(api)
        say(f"\n{len(api)} API requests reached the emulator, each with a bearer token, "
            f"X-Goog-User-Project and X-Goog-Api-Client headers (plus {tokens} to its "
            "/token endpoint for the token).")
    return 0


def _row(op: Operation) -> str:
    meta = op.metadata
    return (f"{op.id:<26} {op.state.value:<10} {meta.type or '-':<16} "
            f"{_progress(op):>5}  {meta.description or ''}")


def _progress(op: Operation) -> str:
    progress = op.metadata.progress
    return "-" if progress is None else f"{progress:.0%}"


def _when(op: Operation) -> str:
    end = op.metadata.end_time
    return end.isoformat(timespec="seconds") if end else "an unknown time"


if __name__ == "__main__":
    raise SystemExit(main())
