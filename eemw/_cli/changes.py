"""The commands that change what is on the server: ``operations delete`` and ``cancel``.

Both ask before changing anything a person did not name one by one (``cancel --all``,
``delete``): on a terminal they show what is about to change and ask; elsewhere they
refuse without ``--yes``. ``--dry-run`` reads, shows what would really happen, and
changes nothing. Declining exits 1: a refusal, not an interruption.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter

from rich.prompt import Confirm
from rich.text import Text

from .._bulk import CancelResult
from .._errors import NotFoundError, UsageError
from .._models import Operation, OperationName
from .._operations import Operations
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK
from .commands import _count, _exit_code, _names, _summary, _upper
from .output import Output, cancel_record, cancel_table, operations_table
from .session import Settings, check_project, open_client

__all__ = ["DEFAULT_CANCEL_STATES", "EXIT_DECLINED", "cancel", "delete"]

DEFAULT_CANCEL_STATES = ("PENDING", "RUNNING")
_CANCEL_OUTCOMES = ("cancelled", "already_done", "not_found", "error")
EXIT_DECLINED = EXIT_ERROR
"""A declined confirmation is a refusal, not an interruption: exit 1, as an error is."""


# -- operations delete ---------------------------------------------------------------------


def delete(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    _needs_confirmation(args, "delete an operation's record")
    with open_client(settings) as client:
        name = OperationName.parse(args.name, client.project).name
        if args.dry_run or not args.yes:
            op = client.operations.get(name)  # what is about to go, and that it exists
            if not out.json:
                out.show(operations_table([op], title="Would delete:" if args.dry_run
                                          else "About to delete:", wide=out.wide))
            if args.dry_run:
                return _dry_delete(out, name)
            if not _ask(out, f"Delete the record of {op.id}? (the task is not cancelled)"):
                _say(out, "nothing deleted")
                return EXIT_DECLINED
        client.operations.delete(name)
    if out.json:
        out.record({"name": name, "outcome": "deleted"})
    else:
        out.show(Text(f"deleted {name}"))
    return EXIT_OK


def _dry_delete(out: Output, name: str) -> int:
    if out.json:
        out.record({"name": name, "outcome": "would_delete"})
    else:
        out.show(Text("dry run: 1 operation would be deleted; nothing was sent", style="dim"))
    return EXIT_OK


def _needs_confirmation(args: argparse.Namespace, what: str) -> None:
    """Refuse before anything is sent when no one can answer the question and no --yes."""
    if not (args.dry_run or args.yes or sys.stdin.isatty()):
        raise UsageError(
            f"refusing to {what} without confirmation: pass --yes (or --dry-run to see "
            "what would happen)"
        )


def _ask(out: Output, question: str) -> bool:
    try:
        return Confirm.ask(question, console=out.err, default=False)
    except EOFError:
        return False


# -- operations cancel ---------------------------------------------------------------------


def cancel(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    if bool(args.names) == args.all:
        raise UsageError("give the operations to cancel, or --all (not both)")
    if (args.state or args.type) and not args.all:
        raise UsageError("--state and --type select operations for --all only")
    if args.all:
        _needs_confirmation(args, "cancel every matching operation")
    with open_client(settings) as client:
        targets: list[Operation] | None = None
        if args.all:
            project = check_project(client)
            states = _upper(args.state) or list(DEFAULT_CANCEL_STATES)
            targets = list(client.operations.list(
                state=states, type=_upper(args.type) or None
            ))
            names = [op.name for op in targets]
        else:
            names = _names(args.names, client.project)
        if args.dry_run:
            gone: list[str] = []
            if targets is None:
                targets, gone = _look_up(client.operations, names)
            return _dry_run(out, targets, gone)
        if not names:
            _say(out, "nothing to cancel")
            return EXIT_OK
        if targets is not None and not args.yes and not _confirm(out, targets, project):
            _say(out, "nothing cancelled")
            return EXIT_DECLINED
        return _cancel_all(client.operations, names, out)


def _say(out: Output, text: str) -> None:
    if not out.json:
        out.note(text, style="")


def _look_up(operations: Operations, names: list[str]) -> tuple[list[Operation], list[str]]:
    """The named operations as they are now, and the names the server does not know."""
    found: list[Operation] = []
    gone: list[str] = []
    for name in names:
        try:
            found.append(operations.get(name))
        except NotFoundError:
            gone.append(name)
    return found, gone


def _dry_run(out: Output, targets: list[Operation], gone: list[str]) -> int:
    """What a cancel would do: only operations not yet done would be cancelled."""
    live = [op for op in targets if not op.done]
    done = [op for op in targets if op.done]
    outcomes = [(op.name, "would_cancel") for op in live]
    outcomes += [(op.name, "already_done") for op in done]
    outcomes += [(name, "not_found") for name in gone]
    if out.json:
        for name, outcome in outcomes:
            out.record(cancel_record(name, outcome))
        return EXIT_OK
    if live:
        out.show(operations_table(live, title="Would cancel:", wide=out.wide))
    for name, outcome in outcomes[len(live):]:
        out.show(Text(f"{name}: {outcome.replace('_', ' ')}, would not be cancelled"))
    parts = [f"{_count(live)} would be cancelled"]
    parts += [f"{_count(done)} already done"] if done else []
    parts += [f"{len(gone)} not found"] if gone else []
    out.show(Text(f"dry run: {', '.join(parts)}; nothing was sent", style="dim"))
    return EXIT_OK


def _confirm(out: Output, targets: list[Operation], project: str) -> bool:
    if not out.json:
        out.show(operations_table(targets, title="About to cancel:", wide=out.wide))
    return _ask(out, f"Cancel {_count(targets)} in project {project}?")


def _cancel_all(operations: Operations, names: list[str], out: Output) -> int:
    done: list[CancelResult] = []
    lock = threading.Lock()
    try:
        if not out.json:
            out.note(f"cancelling {_count(names)} (Ctrl-C to stop)…")
        with out.progress() as progress:
            task = progress.add_task("cancelling", total=len(names))

            def on_result(result: CancelResult) -> None:
                with lock:
                    done.append(result)
                progress.advance(task)
                if out.json:
                    out.record(cancel_record(result.name, result.outcome, result.error))

            results = operations.cancel_many(names, on_result=on_result)
    except KeyboardInterrupt:
        return _cancel_interrupted(out, done, len(names))
    if not out.json:
        out.show(cancel_table(results))
        counts = Counter[str](r.outcome for r in results)
        out.show(Text(_summary(counts, _CANCEL_OUTCOMES)))
    return _exit_code(sum(r.ok for r in results), len(results))


def _cancel_interrupted(out: Output, done: list[CancelResult], total: int) -> int:
    if not out.json and done:
        out.show(cancel_table(done))
    counts = Counter[str](r.outcome for r in done)
    out.note(
        f"interrupted: {len(done)} of {total} cancels finished "
        f"({_summary(counts, _CANCEL_OUTCOMES)}); "
        f"{total - len(done)} not sent or not confirmed",
        style="bold",
    )
    return EXIT_INTERRUPTED
