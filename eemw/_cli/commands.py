"""One function per command: ``(args, settings, out) -> exit code``.

Errors are raised, not printed: :func:`eemw.cli.main` turns them into one line on stderr
and an exit code. Bulk commands (cancel, wait) decide their own code from their results.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from rich.progress import Progress, TaskID
from rich.prompt import Confirm
from rich.text import Text

from .._bulk import CancelResult, WaitResult
from .._errors import NotFoundError, UsageError
from .._models import Operation, OperationName
from .._operations import Operations
from .._plugins import enabled_names, installed_plugins
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL
from .output import (
    Output,
    cancel_record,
    cancel_table,
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
from .seed import seed_demo
from .session import EMULATOR_PROJECT, Settings, check_project, is_loopback, open_client

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = [
    "cancel", "completion", "delete", "demo", "emulator", "get", "list_", "plugins", "stack",
    "wait",
]

DEFAULT_CANCEL_STATES = ("PENDING", "RUNNING")
_CANCEL_OUTCOMES = ("cancelled", "already_done", "not_found", "error")
_Update = Callable[[Operation, dict[str, Operation]], None]
# Past this many operations `wait` shows one overall bar instead of one bar each.
_MAX_BARS = 10
# A person is watching: never let the polling back off past a few seconds.
_MAX_POLL = 5.0
# A declined confirmation is a refusal, not an interruption: exit 1, as an error is.
EXIT_DECLINED = EXIT_ERROR


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


# -- operations get / list / delete --------------------------------------------------------


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
    from ..emulator import Emulator
    from ..emulator._cli import wait_for_stop

    if not is_loopback(args.host):
        print(f"eemw: warning: --host {clean(args.host)} is not a loopback address: anyone who can "
              "reach it can list and cancel its operations and get tokens from it (the "
              "emulator is for local testing only)", file=sys.stderr)
    try:
        emu = Emulator(
            host=args.host, port=args.port, realtime=True, latency=args.latency / 1000,
            record=False, default_project=settings.project or EMULATOR_PROJECT,
        )
    except ValueError as error:
        raise UsageError(f"cannot run the emulator: {error}") from error
    seed_demo(emu, args.seed_operations)
    if args.fault_rate:
        emu.set_chaos(args.fault_rate, seed=args.fault_seed)
    try:
        emu.start()
    except OSError as error:
        print(f"eemw: error: cannot start the emulator on {clean(args.host)}:{args.port}: "
              f"{clean(error.strerror or error)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        _write_credentials(emu, args)
        print(f"eemw emulator listening on {emu.url}", flush=True)
        wait_for_stop()
    finally:
        emu.stop()
    return EXIT_OK


def _write_credentials(emu: Emulator, args: argparse.Namespace) -> None:
    from ..emulator._cli import write_secret

    files = ((args.credentials_file, emu.authorized_user_info),
             (args.service_account_file, emu.service_account_info))
    for path, info in files:
        if not path:
            continue
        try:
            write_secret(path, info())
        except OSError as error:
            raise UsageError(f"cannot write {path}: {error.strerror or error}") from error


def completion(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    """Print the completion script for ``args.shell``; the parser is its only source."""
    from ..cli import build_parser
    from .completion import script

    sys.stdout.write(script(build_parser(), args.shell))
    return EXIT_OK


def demo(args: argparse.Namespace, settings: Settings, out: Output) -> int:
    from .._demo import main

    return main(sys.stdout)

