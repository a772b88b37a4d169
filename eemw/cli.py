"""The ``eemw`` command: operate Earth Engine tasks from a terminal or a script.

::

    eemw [global options] operations get NAME|ID
    eemw [global options] operations list [--state S,…] [--type T,…] [--limit N] [--filter F]
    eemw [global options] operations cancel NAME|ID… | --all [--state …] [--dry-run] [--yes]
    eemw [global options] operations wait NAME|ID… [--timeout S]
    eemw [global options] operations watch [NAME|ID…] [--state S,…] [--type T,…] [--until S]
    eemw [global options] operations delete NAME|ID [--dry-run] [--yes]
    eemw [global options] stack | plugins

Global options include --timeout S (the client-wide deadline of one call),
--retry-attempts N / --no-retry, and --verbose (one stderr line per HTTP attempt).
    eemw completion bash|zsh
    eemw emulator [--port P] [--seed-operations N] [--frozen-clock] [--quota-qps R] …
    eemw demo

Exit codes: 0 success, 1 API error (or every operation of the command failed, or a
confirmation was declined), 2 usage error (nothing was sent), 3 partial failure of a bulk
command, 130 interrupted. ``eemw
emulator`` exits 0 on Ctrl-C or SIGTERM: that is how a foreground server normally ends.

Parsing uses argparse; output uses rich (the ``cli`` extra), imported only once ``main``
runs, so ``import eemw.cli`` stays light.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from ._argtypes import whole_number
from ._cli import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE
from ._cli.seed import DEMO_OPERATIONS
from ._cli.streams import guarded_streams
from ._client import API_VERSIONS
from ._errors import EemwError, UsageError
from ._validate import DEFAULT_TIMEOUTS
from ._version import __version__

__all__ = ["main"]

_MISSING_EXTRA = (
    "eemw: the eemw command needs the 'cli' extra, which brings rich: "
    "pip install 'eemw[cli]'"
)
_S = argparse.SUPPRESS
# Ten days, as long as a task lives: the longest timeout the client accepts.
_MAX_SECONDS = 864_000.0
# More attempts than this is a typo, not a policy: the deadline ends a call long before.
_MAX_ATTEMPTS = 100


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    Nothing escapes as a traceback: Ctrl-C at any point (even while the command is still
    importing or parsing) is one line and 130, and a reader that goes away early
    (``eemw … | head``) silences the output but not the command, which keeps its code.
    """
    with guarded_streams():
        try:
            return _main(argv)
        except KeyboardInterrupt:
            print("eemw: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    try:
        import rich  # noqa: F401
    except ImportError:
        print(_MISSING_EXTRA, file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):  # a command group without its command
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ._cli.output import Output, clean
    from ._cli.session import Settings, show_log_records

    settings = Settings.from_args(args)
    out = Output(settings.json)
    show_log_records()
    try:
        code: int = args.handler(args, settings, out)
    except KeyboardInterrupt:
        print("eemw: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as error:
        print(f"eemw: error: {clean(error)}", file=sys.stderr)
        return EXIT_USAGE
    except EemwError as error:
        print(f"eemw: error: {clean(error)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as error:
        if os.environ.get("EEMW_DEBUG"):
            raise
        print(f"eemw: internal error: {type(error).__name__}: {clean(error)} (a bug: please "
              "report it; EEMW_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_ERROR
    return code


# -- the parser ----------------------------------------------------------------------------


def _global_options(*, timeout: bool = True) -> argparse.ArgumentParser:
    # SUPPRESS defaults let a global option be given before or after the subcommand
    # without the subcommand's parser resetting it; Settings supplies the real defaults.
    # `operations wait` has a --timeout of its own (the whole wait), hence ``timeout``.
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("global options")
    add = group.add_argument
    add("--project", default=_S, help="Cloud project (default: from the credentials, "
        "then GOOGLE_CLOUD_PROJECT; 'demo' with --emulator)")
    add("--endpoint", default=_S, help="API endpoint (default https://earthengine.googleapis.com)")
    add("--api-version", default=_S, choices=API_VERSIONS, help="API version (default v1)")
    add("--credentials", default=_S, metavar="FILE",
        help="service-account or authorized-user JSON (default: application default credentials)")
    add("--quota-project", default=_S, help="project billed for quota (X-Goog-User-Project)")
    add("--plugins", default=_S, metavar="A,B",
        help="enable these installed plugins (default: EEMW_PLUGINS)")
    add("--json", action="store_true", default=_S, help="write JSON lines, one object per item")
    add("--emulator", action="store_true", default=_S,
        help="run this one command against a fresh embedded emulator (project 'demo', "
        f"seeded with {DEMO_OPERATIONS} demo operations, as `eemw emulator` is)")
    if timeout:
        add("--timeout", dest="client_timeout", type=_seconds, default=_S, metavar="SECONDS",
            help="deadline of each get, list page, cancel and delete, retries included "
            "(default: EEMW_TIMEOUT, else 60)")
    add("--retry-attempts", type=whole_number(1, _MAX_ATTEMPTS), default=_S, metavar="N",
        help="most attempts per call, the first included (default: EEMW_RETRY_ATTEMPTS, "
        "else 5)")
    add("--no-retry", dest="retry_attempts", action="store_const", const=1, default=_S,
        help="one attempt per call: the same as --retry-attempts 1")
    add("--verbose", "-v", action="store_true", default=_S,
        help="log each HTTP attempt on stderr: method, URL (secrets redacted), status or "
        "error, time taken")
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The full ``eemw`` argument parser (exposed for documentation and tests)."""
    from ._cli import commands

    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="eemw", parents=[common],
        description="Operate Earth Engine long-running operations (tasks).",
        epilog="exit codes: 0 success, 1 API error or declined confirmation, 2 usage error, "
        "3 partial failure, 130 interrupted (but 0 when Ctrl-C stops `eemw emulator`)",
    )
    parser.add_argument("--version", action="version", version=f"eemw {__version__}")
    parser.set_defaults(help_parser=parser)
    top = parser.add_subparsers(title="commands", metavar="COMMAND")

    _operations_commands(top, common)

    p = top.add_parser("stack", parents=[common],
                       help="print the resolved middleware order, with phases")
    p.set_defaults(handler=commands.stack)
    p = top.add_parser("plugins", parents=[common], help="list installed and enabled plugins")
    p.set_defaults(handler=commands.plugins)
    _emulator_command(top)

    p = top.add_parser("demo", help="run the demo (what `make demo` runs)")
    p.set_defaults(handler=commands.demo)

    p = top.add_parser(
        "completion", help="print a shell completion script (bash or zsh)",
        description="Print a completion script: eval \"$(eemw completion bash)\" in ~/.bashrc "
        "(zsh: eval \"$(eemw completion zsh)\" in ~/.zshrc).",
    )
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(handler=commands.completion)
    return parser


def _operations_commands(top: Any, common: argparse.ArgumentParser) -> None:
    from ._cli import changes, commands, watch

    ops = top.add_parser("operations", aliases=["ops"], parents=[common],
                         help="get, list, cancel, wait on and delete operations")
    ops.set_defaults(help_parser=ops)
    verbs = ops.add_subparsers(title="operations commands", metavar="COMMAND")

    p = verbs.add_parser("get", parents=[common], help="show one operation")
    p.add_argument("name", metavar="NAME|ID")
    p.set_defaults(handler=commands.get)

    p = verbs.add_parser("list", parents=[common], help="list a project's operations")
    _selection(p)
    p.add_argument("--limit", type=whole_number(0), help="stop after N matching operations")
    p.add_argument("--filter", help="server-side filter, passed as is")
    p.add_argument("--page-size", type=whole_number(1, 1000), help="operations per page request")
    p.set_defaults(handler=commands.list_)

    p = verbs.add_parser(
        "cancel", parents=[common], help="cancel operations (best effort)",
        description="Cancel the named operations, or --all operations in the chosen states. "
        "--all asks for confirmation on a terminal; elsewhere it needs --yes.",
    )
    p.add_argument("names", nargs="*", metavar="NAME|ID")
    p.add_argument("--all", action="store_true",
                   help="cancel every operation in the project matching --state/--type")
    _selection(p, default_states="PENDING,RUNNING")
    p.add_argument("--dry-run", action="store_true",
                   help="list what would be cancelled; send nothing")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=changes.cancel)

    p = verbs.add_parser("wait", parents=[_global_options(timeout=False)],
                         help="wait until operations are done")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    p.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUTS["wait"],
                   metavar="SECONDS",
                   help="give up the whole wait after this many seconds (default %(default)g)")
    p.add_argument("--poll-interval", type=_seconds, default=1.0, help=_S)
    p.set_defaults(handler=commands.wait)

    watch.add_parser(verbs, common, _seconds)

    p = verbs.add_parser(
        "delete", parents=[common], help="delete an operation's record",
        description="Delete an operation's record (the task itself is not cancelled). Asks "
        "for confirmation on a terminal; elsewhere it needs --yes.",
    )
    p.add_argument("name", metavar="NAME|ID")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be deleted; send nothing but a get")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.set_defaults(handler=changes.delete)


def _emulator_command(top: Any) -> None:
    from ._cli import commands
    from .emulator._cli import add_arguments as add_emulator_arguments

    p = top.add_parser(
        "emulator", help="run the local emulator until interrupted",
        description="Serve the emulator in the foreground on a real-time clock; Ctrl-C stops "
        "it (exit 0). It starts with the same demo operations as --emulator, so the same ids "
        "work. Same flags as `python -m eemw.emulator`.",
    )
    add_emulator_arguments(p)
    p.set_defaults(handler=commands.emulator)


def _selection(p: argparse.ArgumentParser, default_states: str | None = None) -> None:
    default = f" (default {default_states})" if default_states else ""
    p.add_argument("--state", action="append", metavar="S,…",
                   help=f"only operations in these states{default}")
    p.add_argument("--type", action="append", metavar="T,…",
                   help="only operations of these task types, e.g. EXPORT_IMAGE")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of {what}: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number of {what}, not {text}")
    return value


def _seconds(text: str) -> float:
    value = _number(text, "seconds")
    if not 0 < value <= _MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {_MAX_SECONDS:g} seconds (ten days), not {text}"
        )
    return value


if __name__ == "__main__":
    raise SystemExit(main())
