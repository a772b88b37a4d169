"""One function per command: ``(args, settings, out) -> exit code``.

The commands that change the server (``cancel``, ``delete``) live in :mod:`.changes`.

Errors are raised, not printed: :func:`eemw.cli.main` turns them into one line on stderr
and an exit code. Bulk commands (cancel, wait) decide their own code from their results.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from rich.progress import Progress, TaskID
from rich.text import Text

from .._errors import NotFoundError, UsageError
from .._models import Operation, OperationName
from .._operations import Operations
from .._plugins import enabled_names, installed_plugins
from .._results import WaitResult
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from .output import (
    Output,
    clean,
    operation_detail,
    operation_record,
    operations_table,
    plugin_record,
    plugins_table,
    stack_record,
    stack_table,
    wait_label,
    wait_record,
    wait_table,
)
from .session import Settings, check_project, is_loopback, open_client

__all__ = ["completion", "demo", "emulator", "get", "list_", "plugins", "stack", "wait"]

_Update = Callable[[Operation, dict[str, Operation]], None]
# Past this many operations `wait` shows one overall bar instead of one bar each.
_MAX_BARS = 10
# A person is watching: never let the polling back off past a few seconds.
_MAX_POLL = 5.0


def split_values(values: Sequence[str] | None) -> list[str]:
    """``--state A,B --state C`` → ``["A", "B", "C"]``."""
    return [v.strip() for value in values or () for v in value.split(",") if v.strip()]


def _upper(values: Sequence[str] | None) -> list[str]:
    # States and task types are both upper-case enum names on the wire.
    return [v.upper() for v in split_values(values)]


def _names(args_names: Iterable[str], project: str | None) -> list[str]:
    # Validated up front, so a typo fails before anything is sent; duplicates count once.
    return list(dict.fromkeys(OperationName.parse(n, project).name for n in args_names))


def _exit_code(ok: int, total: int) -> int:
    if ok == total:
        return EXIT_OK
    return EXIT_ERROR if ok == 0 else EXIT_PARTIAL


def _count(items: Sequence[object], noun: str = "operation") -> str:
    return f"{len(items)} {noun}{'s' * (len(items) != 1)}"


def _summary(counts: Counter[str], order: Sequence[str]) -> str:
    parts = [f"{counts[key]} {key.replace('_', ' ')}" for key in order if counts[key]]
    return ", ".join(parts) or "nothing"


# -- operations get / list --------------------------------------------------------------


def get(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_client(settings) as client:
        op = client.operations.get(args.name)
    if out.json:
        out.record(operation_record(op))
    else:
        out.show(operation_detail(op))
    return EXIT_OK


def list_(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_client(settings) as client:
        project = check_project(client)
        ops = client.operations.list(
            state=_upper(args.state) or None,
            type=_upper(args.type) or None,
            limit=args.limit,
            filter=args.filter,
            page_size=args.page_size,
        )
        if out.json:
            for op in ops:  # streamed: a script sees each page as it arrives
                if out.gone:
                    break  # the reader stopped (`| head`): fetch no more pages for nobody
                out.record(operation_record(op))
            return EXIT_OK
        found = list(ops)
    if found:
        out.show(operations_table(found, title=f"projects/{project}/operations", wide=out.wide))
    out.show(Text(_count(found), style="dim"))
    return EXIT_OK


# -- operations wait -----------------------------------------------------------------------


def wait(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_client(settings) as client:
        names = _names(args.names, client.project)
        latest: dict[str, Operation] = {}
        try:
            results = _wait_all(client.operations, names, args, out, latest)
        except KeyboardInterrupt:
            seen = [WaitResult(n, latest.get(n)) for n in names]
            _show_waits(out, [(r, _state_outcome(r) or "interrupted") for r in seen], args)
            finished = sum(r.done for r in seen)
            out.note(f"interrupted: {finished} of {_count(names)} done; stopped waiting "
                     "(nothing was cancelled)", style="bold")
            return EXIT_INTERRUPTED
    rows = [(r, _wait_outcome(r)) for r in results]
    _show_waits(out, rows, args)
    counts = Counter(wait_label(outcome, args.timeout) for _, outcome in rows)
    if not out.json:
        order = sorted(counts, key=lambda k: (k != "succeeded", k))
        out.show(Text(_summary(counts, order)))
    return _exit_code(sum(outcome == "succeeded" for _, outcome in rows), len(rows))


def _wait_all(
    operations: Operations, names: list[str], args: argparse.Namespace, out: Output,
    latest: dict[str, Operation],
) -> list[WaitResult]:
    """``wait_many`` with a progress display; ``latest`` keeps every state seen so far."""
    if not out.json:
        out.note(f"waiting for {_count(names)} (timeout {args.timeout:g}s; Ctrl-C to stop)…")
    with out.progress() as progress:
        update = _wait_display(progress, names)

        def on_update(op: Operation) -> None:
            latest[op.name] = op
            update(op, latest)

        return operations.wait_many(
            names, timeout=args.timeout, poll_interval=args.poll_interval,
            max_poll_interval=max(args.poll_interval, _MAX_POLL), on_update=on_update,
        )


def _state_outcome(result: WaitResult) -> str | None:
    """``succeeded``, ``failed`` or ``cancelled`` for a finished operation, else None."""
    return result.operation.state.value.lower() if result.operation and result.done else None


def _wait_outcome(result: WaitResult) -> str:
    """What became of one operation: its final state, or why it has none.

    ``not_found`` when the server says it does not exist; ``error`` when no state ever
    came back because the requests failed; ``no_answer`` when the timeout came before
    any answer; else ``not_done`` (the last request may have failed: its error is kept).
    """
    done = _state_outcome(result)
    if done is not None:
        return done
    if isinstance(result.error, NotFoundError):
        return "not_found"
    if result.operation is None:
        return "no_answer" if result.error is None else "error"
    return "not_done"


def _show_waits(out: Output, rows: list[tuple[WaitResult, str]], args: argparse.Namespace) -> None:
    if out.json:
        for result, outcome in rows:
            out.record(wait_record(result, outcome))
    elif rows:
        out.show(wait_table(rows, args.timeout, wide=out.wide))


def _wait_display(progress: Progress, names: list[str]) -> _Update:
    if len(names) > _MAX_BARS:
        overall = progress.add_task(f"{len(names)} operations", total=len(names))

        def count(op: Operation, latest: dict[str, Operation]) -> None:
            progress.update(overall, completed=sum(o.done for o in latest.values()))

        return count
    bars: dict[str, TaskID] = {
        name: progress.add_task(name.rsplit("/", 1)[1], total=1.0) for name in names
    }

    def each(op: Operation, latest: dict[str, Operation]) -> None:
        fraction = 1.0 if op.done else op.metadata.progress or 0.0
        progress.update(
            bars[op.name], completed=fraction,
            description=f"{op.id} {op.state.value}",
        )

    return each


# -- stack, plugins, emulator, demo --------------------------------------------------------


def stack(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    with open_client(settings, need_credentials=False) as client:
        entries = client.stack.entries
    if out.json:
        for position, entry in enumerate(entries, 1):
            out.record(stack_record(position, entry))
    else:
        out.show(stack_table(entries))
    return EXIT_OK


def plugins(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    installed = {p.name: p for p in installed_plugins()}
    enabled = enabled_names(settings.plugins)
    records = [plugin_record(info, name, name in enabled) for name, info in installed.items()]
    missing = [name for name in enabled if name not in installed]
    records += [plugin_record(None, name, True) for name in missing]
    if out.json:
        for record in records:
            out.record(record)
    elif records:
        out.show(plugins_table(records))
        idle = ",".join(name for name in installed if name not in enabled)
        if idle:
            out.show(Text(f"enable with --plugins {idle} or EEMW_PLUGINS={idle} (or some of "
                          "them)", style="dim"))
    else:
        out.show(Text("no plugins installed (entry-point group eemw.middleware)"))
    if missing:
        raise UsageError(f"enabled but not installed: {', '.join(missing)}")
    return EXIT_OK


def emulator(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    """Serve in the foreground until Ctrl-C or SIGTERM, its normal end: exit 0."""
    from ..emulator._cli import build, run

    if not is_loopback(args.host):
        print(f"eemw: warning: --host {clean(args.host)} is not a loopback address: anyone who can "
              "reach it can list and cancel its operations and get tokens from it (the "
              "emulator is for local testing only)", file=sys.stderr)
    try:
        emu = build(args)
    except ValueError as error:
        raise UsageError(f"cannot run the emulator: {error}") from error
    try:
        emu.start()
    except OSError as error:
        print(f"eemw: error: cannot start the emulator on {clean(args.host)}:{args.port}: "
              f"{clean(error.strerror or error)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        run(emu, args)
    except OSError as error:
        raise UsageError(f"cannot write {error.filename}: {error.strerror or error}") from error
    return EXIT_OK


def completion(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    """Print the completion script for ``args.shell``; the parser is its only source."""
    from ..cli import build_parser
    from .completion import script

    sys.stdout.write(script(build_parser(), args.shell))
    return EXIT_OK


def demo(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from .._demo import main

    return main(sys.stdout)

