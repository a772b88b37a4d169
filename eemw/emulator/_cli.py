"""The emulator as a foreground process: one set of flags for `eemw emulator` and
`python -m eemw.emulator`, one demo dataset, a real-time clock unless `--frozen-clock`.

Runs until SIGINT or SIGTERM, then exits 0: that is how a foreground server normally ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from .._argtypes import whole_number
from ._seed import DEMO_OPERATIONS, MAX_SEED

if TYPE_CHECKING:
    from ._emulator import Emulator

DEFAULT_PORT = 8080
DEFAULT_PROJECT = "demo"
_MAX_LATENCY_MS = 60_000.0
_MAX_SECONDS = 864_000.0  # ten days, as long as a task lives


def _real(low: float, high: float, what: str, *, above: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of {what}: {text!r}") from None
        if not math.isfinite(value) or value > high or value < low or (above and value == low):
            side = "more than" if above else "from"
            raise argparse.ArgumentTypeError(
                f"must be {side} {low:g} to {high:g} {what}, not {text}"
            )
        return value

    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's flags to `parser` (shared by both commands, so they cannot drift)."""
    add = parser.add_argument
    add("--host", default="127.0.0.1",
        help="address to bind (default %(default)s; anything but loopback lets others use it)")
    add("--port", type=whole_number(0, 65535), default=DEFAULT_PORT,
        help="port (default %(default)s; 0: any free port)")
    # SUPPRESS: `eemw --project P emulator` sets it before the subcommand; keep that value.
    add("--project", default=argparse.SUPPRESS,
        help=f"default project, the one seeded (default {DEFAULT_PROJECT})")
    add("--seed-operations", type=whole_number(0, MAX_SEED), default=DEMO_OPERATIONS, metavar="N",
        help="demo operations to create at start (default %(default)s, the set --emulator "
        f"has; at most {MAX_SEED})")
    add("--frozen-clock", action="store_true",
        help="operations move only when told (default: a real-time clock, so waits finish)")
    add("--realtime", action="store_true", help=argparse.SUPPRESS)  # the default; kept for scripts
    add("--cancel-delay", type=_real(0, 1e12, "seconds"), default=2.0, metavar="S",
        help="seconds an operation stays CANCELLING after a cancel (default %(default)g; "
        "0 is kinder than the service)")
    add("--honour-idempotency-keys", action="store_true",
        help="replay the first answer to a repeated Idempotency-Key, like a deduping proxy "
        "(Earth Engine itself ignores the header)")
    add("--hostile-timestamps", action="store_true",
        help="also write timestamps with 9 fractional digits (the service writes 0, 3 or 6)")
    add("--max-page-size", type=whole_number(1), default=1000, metavar="N",
        help="largest list page served (default %(default)s)")
    add("--quota-qps", type=_real(1, 1e9, "requests per second"), default=None, metavar="R",
        help="requests per second per quota project over a sliding 1 s window; excess: 429")
    add("--quota-concurrent", type=whole_number(1), default=None, metavar="N",
        help="concurrent requests per quota project; excess: 429")
    add("--quota-retry-info", action="store_true",
        help="add a RetryInfo detail to quota 429s (the service may not)")
    add("--fault-rate", type=_real(0, 1, "(a share)"), default=0.0, metavar="R",
        help="share of API requests given a random fault, 0 to 1")
    add("--fault-seed", type=whole_number(0), default=0, help="seed of the random faults")
    add("--chaos-delay", type=_real(0, _MAX_SECONDS, "seconds"), default=2.0, metavar="S",
        help="seconds a chaos 'delay' fault waits (default %(default)g)")
    add("--latency", "--latency-ms", dest="latency_ms", default=0.0, metavar="MS",
        type=_real(0, _MAX_LATENCY_MS, "milliseconds"),
        help=f"milliseconds added to every API response (at most {_MAX_LATENCY_MS:g})")
    add("--no-auth", action="store_true", help="accept API calls without a bearer token")
    add("--token-lifetime", type=_real(0, _MAX_SECONDS, "seconds", above=True), default=3600.0,
        metavar="S", help="access token lifetime in seconds (default %(default)g)")
    add("--record", action="store_true", help="keep received requests in memory")
    add("--credentials-file", metavar="FILE",
        help="write authorized-user JSON for this emulator here (for --credentials)")
    add("--service-account-file", metavar="FILE",
        help="write a service-account key JSON for this emulator here")


def build(args: argparse.Namespace) -> Emulator:
    """The emulator the flags describe, seeded, not yet started. ValueError on bad values."""
    from ._emulator import Emulator

    emulator = Emulator(
        host=args.host,
        port=args.port,
        realtime=not args.frozen_clock,
        require_auth=not args.no_auth,
        token_lifetime=args.token_lifetime,
        latency=args.latency_ms / 1000.0,
        record=args.record,
        seed_operations=args.seed_operations,
        default_project=getattr(args, "project", None) or DEFAULT_PROJECT,
        max_page_size=args.max_page_size,
        cancel_delay=args.cancel_delay,
        chaos_delay=args.chaos_delay,
        honour_idempotency_keys=args.honour_idempotency_keys,
        hostile_timestamps=args.hostile_timestamps,
        quota_qps=args.quota_qps,
        quota_concurrent=args.quota_concurrent,
        quota_retry_info=args.quota_retry_info,
    )
    if args.fault_rate:
        emulator.set_chaos(args.fault_rate, seed=args.fault_seed)
    return emulator


def write_secret(path: str, info: dict[str, str]) -> None:
    # Only the owner may read it: it holds a client secret or a private key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)


def write_credentials(emulator: Emulator, args: argparse.Namespace) -> None:
    """Write the credential files the flags ask for; OSError if one cannot be written."""
    if args.credentials_file:
        write_secret(args.credentials_file, emulator.authorized_user_info())
    if args.service_account_file:
        write_secret(args.service_account_file, emulator.service_account_info())


@contextlib.contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM set ``stop``; the previous handlers come back after.

    SIGINT is handled explicitly: a shell starts a background job (``… &``) with SIGINT
    ignored, and ``kill -INT`` should still stop it. Off the main thread no signal can
    arrive, so whoever runs the server there stops it through ``stop``.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(emulator: Emulator, args: argparse.Namespace, stop: threading.Event | None = None) -> None:
    """Serve a started emulator in the foreground: credential files, the ready line, wait.

    The signal handlers are in place before the ready line, so a supervisor that stops the
    emulator as soon as it is ready still gets a clean exit.
    """
    stop = stop or threading.Event()
    try:
        with stop_signals(stop):
            write_credentials(emulator, args)
            print(f"eemw emulator listening on {emulator.url}", flush=True)
            stop.wait()
    finally:
        emulator.stop()


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="python -m eemw.emulator",
        description="Run a local Earth Engine emulator in the foreground (same as "
        "`eemw emulator`); Ctrl-C or SIGTERM stops it (exit 0).",
    )
    add_arguments(made)
    return made


def serve(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set); print the ready line once listening."""
    args = parser().parse_args(argv)
    try:
        emulator = build(args).start()
    except (OSError, ValueError) as err:
        print(f"eemw emulator: cannot start: {err}", file=sys.stderr, flush=True)
        return 1
    try:
        run(emulator, args, stop)
    except OSError as err:
        print(f"eemw emulator: {err}", file=sys.stderr, flush=True)
        return 1
    return 0
