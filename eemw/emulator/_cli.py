"""`python -m eemw.emulator`: run the emulator in the foreground until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from ._emulator import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m eemw.emulator", description="Run a local Earth Engine operations emulator."
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    add("--port", type=int, default=8080, help="port to bind, 0 for any free port (default 8080)")
    add(
        "--seed-operations",
        type=int,
        default=0,
        help="operations to pre-create in the default project",
    )
    add("--project", default="demo", help="default project (default demo)")
    add("--fault-rate", type=float, default=0.0, help="share of API requests given a random fault")
    add("--fault-seed", type=int, default=0, help="seed of the random fault mix")
    add("--chaos-delay", type=float, default=2.0, help="seconds a chaos 'delay' fault waits")
    add("--latency-ms", type=float, default=0.0, help="milliseconds added to every API response")
    add("--realtime", action="store_true", help="let operations progress with wall-clock time")
    add("--no-auth", action="store_true", help="accept API calls without a bearer token")
    add("--token-lifetime", type=float, default=3600.0, help="access token lifetime in seconds")
    add("--cancel-delay", type=float, default=0.0, help="seconds an operation stays CANCELLING")
    add("--record", action="store_true", help="keep received requests in memory")
    add("--credentials-file", help="write authorized_user JSON for this emulator to this path")
    add(
        "--service-account-file",
        help="write a service-account key JSON for this emulator to this path",
    )
    return parser


def write_secret(path: str, info: dict[str, str]) -> None:
    # Only the owner may read it: it holds a client secret or a private key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)


def _build(args: argparse.Namespace) -> Emulator:
    emulator = Emulator(
        host=args.host,
        port=args.port,
        realtime=args.realtime,
        require_auth=not args.no_auth,
        token_lifetime=args.token_lifetime,
        latency=args.latency_ms / 1000.0,
        record=args.record,
        seed_operations=args.seed_operations,
        default_project=args.project,
        cancel_delay=args.cancel_delay,
        chaos_delay=args.chaos_delay,
    )
    if args.fault_rate:
        emulator.set_chaos(args.fault_rate, seed=args.fault_seed)
    return emulator


def wait_for_stop(stop: threading.Event | None = None) -> None:
    """Block until SIGINT or SIGTERM (or ``stop`` is set), then restore the handlers.

    SIGINT is handled explicitly: a shell starts a background job (``… &``) with SIGINT
    ignored, and ``kill -INT`` should still stop it. Off the main thread no signal can
    arrive, so whoever runs the server there stops it through ``stop``.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is not threading.main_thread():
        stop.wait()
        return
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve(argv: list[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """Run until SIGINT/SIGTERM (or `stop` is set); print the ready line once listening."""
    args = _parser().parse_args(argv)
    try:
        emulator = _build(args).start()
    except (OSError, ValueError) as err:
        print(f"eemw emulator: cannot start: {err}", file=sys.stderr, flush=True)
        return 1
    try:
        if args.credentials_file:
            write_secret(args.credentials_file, emulator.authorized_user_info())
        if args.service_account_file:
            write_secret(args.service_account_file, emulator.service_account_info())
        print(f"eemw emulator listening on {emulator.url}", flush=True)
        wait_for_stop(stop)
    finally:
        emulator.stop()
    return 0
