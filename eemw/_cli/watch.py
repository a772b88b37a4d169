"""``eemw operations watch``: a live view of operations, or one JSON line per change.

On a terminal the view is a table redrawn in place (states, progress bars, a summary
line); with ``--json``, or when stdout is not a terminal, each change is one JSON line.
Either way the rounds are ``client.operations.watch``'s: pages of ``list``, not a request
per operation.
"""

from __future__ import annotations

import argparse
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .._models import Operation, OperationName, State
from .._watch_model import OperationChange
from .._watch_stream import DEFAULT_WATCH_INTERVAL, OperationWatch
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from .output import Output, clean, operation_record, state_text
from .session import Settings, check_project, open_client

__all__ = ["add_parser", "watch"]

_ACTIVE = (State.RUNNING, State.CANCELLING, State.PENDING)
# Rows kept off the table for the header, the summary and the prompt.
_CHROME = 6
_MIN_ROWS = 5
_REDRAWS = 4


def add_parser(verbs: Any, common: argparse.ArgumentParser, seconds: Any) -> None:
    """Register ``operations watch`` on the ``operations`` subparsers."""
    p = verbs.add_parser(
        "watch", parents=[common], help="follow operations live until they are done",
        description="Follow the named operations until every one is done, or with no names "
        "every operation of the project (matching --state/--type) until --until or Ctrl-C. "
        "A table updated in place on a terminal; one JSON line per change with --json or "
        "when piped. Exit codes as for wait: 0 every operation succeeded, 1 none did, 3 some "
        "did, 130 interrupted; a project watch exits 1 if it saw an operation fail, else 0.",
    )
    p.add_argument("names", nargs="*", metavar="NAME|ID")
    p.add_argument("--state", action="append", metavar="S,…",
                   help="only show operations in these states")
    p.add_argument("--type", action="append", metavar="T,…",
                   help="only show operations of these task types, e.g. EXPORT_IMAGE")
    p.add_argument("--until", type=seconds, metavar="SECONDS",
                   help="stop after this many seconds (default: when all are done, or never)")
    p.add_argument("--poll-interval", type=seconds, default=DEFAULT_WATCH_INTERVAL,
                   metavar="SECONDS", help="seconds between rounds (default %(default)g)")
    p.set_defaults(handler=watch)


def _values(values: Iterable[str] | None) -> list[str] | None:
    found = [v.strip().upper() for value in values or () for v in value.split(",") if v.strip()]
    return found or None


def watch(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_client(settings) as client:
        names = list(dict.fromkeys(OperationName.parse(n, client.project).name
                                   for n in args.names))
        if not names:
            check_project(client)
        stream = OperationWatch(
            client.operations, names or None, state=_values(args.state),
            type=_values(args.type), poll_interval=args.poll_interval, until=args.until,
            every_change=True,
        )
        view = _View(names, lambda: max(_MIN_ROWS, out.console.size.height - _CHROME))
        live = not out.json and out.console.is_terminal
        try:
            with stream:
                if live:
                    _follow_live(stream, view, out)
                else:
                    for change in stream:
                        view.add(change)
                        if out.gone:
                            break
                        out.record(change_record(change))
        except KeyboardInterrupt:
            out.note(f"interrupted: {view.summary()} (nothing was cancelled)", style="bold")
            return EXIT_INTERRUPTED
    if live:
        out.show(view.summary_text())
    return view.exit_code()


def _follow_live(stream: OperationWatch, view: _View, out: Output) -> None:
    # Rich redraws the view a few times a second from its own thread (the view renders
    # itself then), so a round of a thousand changes costs a few redraws, not a thousand.
    with Live(view, console=out.console, refresh_per_second=_REDRAWS, transient=False):
        for change in stream:
            view.add(change)


def change_record(change: OperationChange) -> dict[str, Any]:
    """One JSON line per change: the operation as ``operations get --json`` writes it, plus
    ``previous_state`` (``null`` the first time the watch sees it)."""
    record = operation_record(change.after)
    record["previous_state"] = None if change.before is None else change.before.state.value
    return record


class _View:
    """The latest state of every operation shown, and what the exit code says of them."""

    def __init__(self, names: list[str], rows: Callable[[], int]) -> None:
        self.names = names
        self.rows = rows
        self.latest: dict[str, Operation] = {}
        self.failures = 0
        self._lock = threading.Lock()  # rich's refresh thread renders while changes arrive

    def add(self, change: OperationChange) -> None:
        with self._lock:
            self._add(change)

    def _add(self, change: OperationChange) -> None:
        after = change.after
        if after.failed and change.before is not None and not change.before.failed:
            self.failures += 1  # seen failing during the watch, not failed long before
        self.latest[after.name] = after

    def counts(self) -> Counter[str]:
        return Counter(op.state.value for op in self.latest.values())

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{n} {state.lower()}" for state, n in sorted(counts.items())]
        return f"{len(self.latest)} operations: " + (", ".join(parts) or "none seen")

    def summary_text(self) -> Text:
        return Text(self.summary())

    def exit_code(self) -> int:
        if not self.names:
            return EXIT_ERROR if self.failures else EXIT_OK
        succeeded = sum(1 for n in self.names if (op := self.latest.get(n)) and op.succeeded)
        if succeeded == len(self.names):
            return EXIT_OK
        return EXIT_ERROR if succeeded == 0 else EXIT_PARTIAL

    def __rich__(self) -> Group:
        rows = self.rows()
        with self._lock:
            ops = sorted(self.latest.values(), key=_order)
            summary = self.summary()
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("ID", no_wrap=True)
        table.add_column("STATE", no_wrap=True)
        table.add_column("TYPE", no_wrap=True)
        table.add_column("PROGRESS", no_wrap=True, width=24)
        table.add_column("DESCRIPTION", overflow="ellipsis", no_wrap=True)
        for op in ops[:rows]:
            table.add_row(clean(op.id), state_text(op.state), clean(op.metadata.type or "-"),
                          _bar(op), clean(op.metadata.description or ""))
        parts: list[Any] = [table]
        if len(ops) > rows:
            parts.append(Text(f"… and {len(ops) - rows} more", style="dim"))
        parts.append(Text(summary + "  (Ctrl-C to stop)", style="dim"))
        return Group(*parts)


def _order(op: Operation) -> tuple[int, float]:
    # Running work first, then the most recently finished.
    rank = _ACTIVE.index(op.state) if op.state in _ACTIVE else len(_ACTIVE)
    created = op.metadata.create_time
    return rank, -(created.timestamp() if created else 0.0)


def _bar(op: Operation) -> ProgressBar | Text:
    progress = 1.0 if op.succeeded else op.metadata.progress
    if progress is None:
        return Text("-", style="dim")
    style = "red" if op.failed else "green" if op.done else "cyan"
    return ProgressBar(total=1.0, completed=progress, width=24, complete_style=style,
                       finished_style=style)
