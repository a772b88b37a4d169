"""``make demo`` / ``eemw demo``: real calls through the full stack to the embedded emulator.

Starts the emulator on 127.0.0.1 with a real-time clock, seeds a handful of tasks, and
runs list, get, cancel and wait through :class:`eemw.Client` over HTTP, printing what a
person wants to read. Needs nothing but eemw itself.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from ._client import Client
from ._models import Operation
from .middleware.retry import RetryPolicy

# (type, description, state, seconds until it starts, seconds it runs)
_TASKS = (
    ("EXPORT_IMAGE", "Export Sentinel-2 median, 2025", "RUNNING", 0.0, 120.0),
    ("EXPORT_FEATURES", "Export field boundaries", "PENDING", 60.0, 30.0),
    ("INGEST_IMAGE", "Ingest DEM tile 42", "RUNNING", 0.0, 1.5),
    ("EXPORT_IMAGE", "Export NDVI composite", "SUCCEEDED", 0.0, 1.0),
    ("EXPORT_VIDEO", "Timelapse, Lake Mead", "FAILED", 0.0, 1.0),
)


def main(out: TextIO = sys.stdout) -> int:
    """Run the demo; returns the process exit code."""
    from .emulator import Emulator

    say: Callable[[str], object] = lambda text: print(text, file=out, flush=True)  # noqa: E731
    with Emulator(realtime=True) as emu:
        names = [
            emu.add_operation("demo", state=state, type=kind, description=text,
                              start_after=start, duration=seconds)
            for kind, text, state, start, seconds in _TASKS
        ]
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
            first = client.operations.get(names[0])
            say(f"\nget {first.id}: {first.state.value}, {_progress(first)} done, "
                f"priority {first.metadata.priority}")
            client.operations.cancel(names[1])
            cancelled = client.operations.get(names[1])
            say(f"cancel {cancelled.id}: now {cancelled.state.value} "
                f"(error code {cancelled.error.code if cancelled.error else '-'})")
            say(f"wait {names[2].rsplit('/', 1)[1]}: waiting for it to finish…")
            done = client.operations.wait(names[2], timeout=30, poll_interval=0.25)
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
