"""What the command prints: rich tables for people, JSON lines for scripts.

Every string that came from the server or the user goes through :func:`clean` before it
reaches a terminal, so a hostile description cannot smuggle terminal escapes or rich markup.
JSON lines are terminal-safe too (:func:`json_line`): beyond what ``json.dumps`` escapes (C0
controls), every character that is not printable — DEL, C1 controls, bidi overrides and
isolates, zero-width and line/paragraph separators — is written as a ``\\uXXXX`` escape, so
the line decodes to the same value but cannot move a terminal's cursor or reorder its text.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .._errors import ApiError
from .._models import Operation, State
from .._pipeline import Entry
from .._plugins import PluginInfo
from .._results import CancelResult, WaitResult

__all__ = [
    "Output",
    "cancel_record",
    "cancel_table",
    "clean",
    "json_line",
    "operation_detail",
    "operation_record",
    "operations_table",
    "plugin_record",
    "plugins_table",
    "stack_record",
    "stack_table",
    "wait_record",
    "wait_table",
]

STATE_STYLES: Mapping[State, str] = {
    State.PENDING: "yellow",
    State.RUNNING: "cyan",
    State.CANCELLING: "magenta",
    State.SUCCEEDED: "green",
    State.CANCELLED: "magenta",
    State.FAILED: "bold red",
    State.STATE_UNSPECIFIED: "dim",
}
OUTCOME_STYLES: Mapping[str, str] = {
    "cancelled": "green",
    "already_done": "dim",
    "not_found": "yellow",
    "error": "bold red",
    "would_cancel": "cyan",
}
# Wait outcomes that are not an operation's final state, and what people read for them.
WAIT_PROBLEMS = ("not_done", "no_answer", "not_found", "error", "interrupted")


_PIPE_WIDTH = 250
_WIDE = 100


def clean(text: object) -> str:
    """``text`` made safe for a terminal: line breaks become spaces, other controls ``?``."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(c if c.isprintable() else " " if c in "\n\r\t" else "?" for c in value)


def json_line(data: Mapping[str, Any]) -> str:
    """``data`` as one JSON line with every non-printable character escaped as ``\\uXXXX``."""
    line = json.dumps(data, ensure_ascii=False, separators=(", ", ": "))
    if line.isprintable():
        return line
    # json.dumps leaves only string contents unescaped, so each match is inside a string.
    return _NOT_PRINTABLE.sub(_escape, line)


_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON spells a character beyond the BMP as a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


class Output:
    """Where a command writes: ``console`` (stdout), ``err`` (stderr) and JSON lines.

    Colour and live progress only appear on a terminal (rich decides, and honours
    ``NO_COLOR``). :meth:`record` is safe to call from worker threads.
    """

    def __init__(self, as_json: bool) -> None:
        self.json = as_json
        # Off a terminal rich assumes 80 columns and would cut ids short; a pipe or file
        # gets full lines instead (COLUMNS still wins when set).
        piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
        self.console = Console(
            highlight=False, markup=False, emoji=False, width=_PIPE_WIDTH if piped else None
        )
        self.err = Console(stderr=True, highlight=False, markup=False, emoji=False)
        self._lock = threading.Lock()

    def record(self, data: Mapping[str, Any]) -> None:
        line = json_line(data)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    def show(self, renderable: RenderableType) -> None:
        if self.console.is_terminal:
            self.console.print(renderable)
            return
        # Piped, a table's padding would end lines in spaces a script then has to strip.
        with self.console.capture() as captured:
            self.console.print(renderable)
        lines = captured.get().splitlines()
        with self._lock:
            sys.stdout.write("".join(line.rstrip() + "\n" for line in lines))
            sys.stdout.flush()

    @property
    def gone(self) -> bool:
        """Whether stdout's reader went away (``| head``): nothing written is read any more."""
        return bool(getattr(sys.stdout, "gone", False))

    @property
    def wide(self) -> bool:
        """Whether stdout has room for every column of a table of operations."""
        return self.console.width >= _WIDE

    def note(self, text: str, style: str = "dim") -> None:
        """A line for the person at the terminal, on stderr so stdout stays data."""
        self.err.print(Text(text, style=style))

    def progress(self) -> Progress:
        """A progress display on stderr; it draws nothing when stderr is not a terminal."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=self.json or not self.err.is_terminal,
        )


# -- operations ----------------------------------------------------------------------------


def operation_record(op: Operation) -> dict[str, Any]:
    """The JSON-lines view of an operation: always the same keys (``null`` when absent)."""
    meta = op.metadata
    raw = meta.raw
    return {
        "name": op.name,
        "id": op.id,
        "project": op.project,
        "state": op.state.value,
        "done": op.done,
        "type": meta.type,
        "description": meta.description,
        "priority": meta.priority,
        "progress": meta.progress,
        "attempt": meta.attempt,
        "create_time": raw.get("createTime"),
        "start_time": raw.get("startTime"),
        "update_time": raw.get("updateTime"),
        "end_time": raw.get("endTime"),
        "script_uri": meta.script_uri,
        "destination_uris": list(meta.destination_uris),
        "error": None if op.error is None else {
            "code": op.error.code, "message": op.error.message,
        },
    }


def state_text(state: State) -> Text:
    return Text(state.value, style=STATE_STYLES.get(state, ""))


def _when(value: datetime | None, seconds: bool = True) -> str:
    if value is None:
        return "-"
    form = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(timezone.utc).strftime(form)


def _progress(op: Operation) -> str:
    progress = op.metadata.progress
    return "-" if progress is None else f"{progress:.0%}"


def operations_table(
    ops: Iterable[Operation], title: str | None = None, *, wide: bool = True
) -> Table:
    """One row per operation; ``wide=False`` leaves out the creation time (narrow terminals)."""
    table = Table(title=title, title_justify="left", box=None, header_style="bold",
                  pad_edge=False)
    table.add_column("ID", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("TYPE", no_wrap=True)
    table.add_column("DONE", justify="right", no_wrap=True)
    if wide:
        table.add_column("CREATED (UTC)", no_wrap=True)
    table.add_column("DESCRIPTION", overflow="fold")
    for op in ops:
        meta = op.metadata
        cells: list[str | Text] = [
            clean(op.id), state_text(op.state), clean(meta.type or "-"), _progress(op),
        ]
        if wide:
            cells.append(_when(meta.create_time, seconds=False))
        cells.append(clean(meta.description or ""))
        table.add_row(*cells)
    return table


def operation_detail(op: Operation) -> Table:
    meta = op.metadata
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    rows: list[tuple[str, str | Text]] = [
        ("name", clean(op.name)),
        ("state", state_text(op.state)),
        ("type", clean(meta.type or "-")),
        ("description", clean(meta.description or "-")),
        ("priority", str(meta.priority)),
        ("progress", _progress(op)),
        ("created", _when(meta.create_time) + " UTC" if meta.create_time else "-"),
        ("started", _when(meta.start_time) + " UTC" if meta.start_time else "-"),
        ("updated", _when(meta.update_time) + " UTC" if meta.update_time else "-"),
        ("ended", _when(meta.end_time) + " UTC" if meta.end_time else "-"),
    ]
    if meta.attempt is not None:
        rows.append(("attempt", str(meta.attempt)))
    if meta.script_uri:
        rows.append(("script", clean(meta.script_uri)))
    rows.extend(("destination", clean(uri)) for uri in meta.destination_uris)
    rows.extend(
        (f"stage {i}", clean(f"{s.display_name or '?'} {s.complete_work_units or 0}/"
                             f"{s.total_work_units or '?'}"))
        for i, s in enumerate(meta.stages, 1)
    )
    if op.error is not None:
        rows.append(("error", Text(clean(f"{op.error.code}: {op.error.message}"), style="red")))
    for key, value in rows:
        grid.add_row(key, value)
    return grid


# -- wait ----------------------------------------------------------------------------------


def wait_record(result: WaitResult, outcome: str) -> dict[str, Any]:
    """The JSON-lines view of one waited-on operation: every key of :func:`operation_record`
    (``null`` when no state was ever seen), then ``outcome``, ``request_error`` and
    ``request_error_type`` (the last failed request for it, if it failed)."""
    op = result.operation
    if op is None:
        record = operation_record(Operation(result.name))
        record.update(state=None, done=None, priority=None)
    else:
        record = operation_record(op)
    error = result.error
    record.update(
        outcome=outcome,
        request_error=None if error is None else str(error),
        request_error_type=None if error is None else type(error).__name__,
    )
    return record


def wait_label(outcome: str, timeout: float) -> str:
    """How a wait outcome reads for people: ``not done after 600s``, ``not found``, …"""
    if outcome == "not_done":
        return f"not done after {timeout:g}s"
    if outcome == "no_answer":
        return f"no answer within {timeout:g}s"
    return outcome.replace("_", " ")


def wait_table(
    rows: Iterable[tuple[WaitResult, str]], timeout: float, *, wide: bool = True
) -> Table:
    """One row per operation waited on, as :func:`operations_table` plus, when some did not
    finish, a DETAIL column saying why (the timeout, or the last request's error)."""
    rows = list(rows)
    problems = any(outcome in WAIT_PROBLEMS for _, outcome in rows)
    table = operations_table((), wide=wide)
    if problems:
        table.add_column("DETAIL", overflow="fold")
    for result, outcome in rows:
        op = result.operation or Operation(result.name)
        meta = op.metadata
        cells: list[str | Text] = [
            clean(op.id),
            state_text(op.state) if result.operation else Text("-", style="dim"),
            clean(meta.type or "-"),
            _progress(op),
        ]
        if wide:
            cells.append(_when(meta.create_time, seconds=False))
        cells.append(clean(meta.description or ""))
        if problems:
            cells.append(_wait_detail(result, outcome, timeout))
        table.add_row(*cells)
    return table


def _wait_detail(result: WaitResult, outcome: str, timeout: float) -> Text:
    if outcome not in WAIT_PROBLEMS:
        return Text("")
    parts = [] if outcome in ("not_found", "error") else [wait_label(outcome, timeout)]
    error = result.error
    if isinstance(error, ApiError):  # the row already names the operation
        parts.append(f"{error.rpc_status}: {error.message}")
    elif error is not None:
        parts.append(f"{type(error).__name__}: {error}")
    return Text(clean("; ".join(parts)), style="yellow" if outcome == "not_done" else "red")


# -- cancel --------------------------------------------------------------------------------


def cancel_record(name: str, outcome: str, error: BaseException | None = None) -> dict[str, Any]:
    """The JSON-lines view of one cancel: ``name``, ``outcome``, ``error``, ``error_type``."""
    return {
        "name": name,
        "outcome": outcome,
        "error": None if error is None else str(error),
        "error_type": None if error is None else type(error).__name__,
    }


def cancel_table(results: Iterable[CancelResult]) -> Table:
    """One row per cancel; a DETAIL column only when some cancel failed with an error."""
    rows = list(results)
    errors = any(r.outcome == "error" for r in rows)
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("NAME", no_wrap=True)
    table.add_column("OUTCOME", no_wrap=True)
    if errors:
        table.add_column("DETAIL", overflow="fold")
    for result in rows:
        cells: list[str | Text] = [
            clean(result.name),
            Text(result.outcome.replace("_", " "), style=OUTCOME_STYLES[result.outcome]),
        ]
        if errors:
            failed = result.outcome == "error" and result.error is not None
            cells.append(clean(result.error) if failed else "")
        table.add_row(*cells)
    return table


# -- stack and plugins ---------------------------------------------------------------------


def origin(entry: Entry) -> str:
    """Where a stage comes from, exactly as :meth:`eemw.Stack.describe` words it."""
    return entry.origin


def stack_record(position: int, entry: Entry) -> dict[str, Any]:
    return {
        "position": position,
        "name": entry.name,
        "phase": entry.phase,
        "plugin": entry.plugin,
        "origin": origin(entry),
    }


def stack_table(entries: Iterable[Entry]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("#", justify="right")
    table.add_column("STAGE", no_wrap=True)
    table.add_column("PHASE", no_wrap=True)
    table.add_column("FROM")
    for position, entry in enumerate(entries, 1):
        phase = Text(entry.phase, style="cyan" if entry.phase == "call" else "magenta")
        table.add_row(str(position), clean(entry.name), phase, clean(origin(entry)))
    table.add_row("", "transport", "", "sends the request")
    return table


def plugin_record(info: PluginInfo | None, name: str, enabled: bool) -> dict[str, Any]:
    return {
        "name": name,
        "distribution": info.distribution if info else None,
        "version": info.version if info else None,
        "target": info.target if info else None,
        "installed": info is not None,
        "enabled": enabled,
    }


def plugins_table(records: Iterable[Mapping[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("PLUGIN", "DISTRIBUTION", "VERSION", "ENABLED", "ENTRY POINT"):
        table.add_column(column, no_wrap=column != "ENTRY POINT")
    for r in records:
        enabled = Text("yes", style="green") if r["enabled"] else Text("no", style="dim")
        if not r["installed"]:
            enabled = Text("yes, not installed", style="bold red")
        table.add_row(
            clean(r["name"]), clean(r["distribution"] or "-"), clean(r["version"] or "-"),
            enabled, clean(r["target"] or "-"),
        )
    return table
