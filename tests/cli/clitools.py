"""Helpers shared by the CLI tests (imported as a plain module: tests have no packages)."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eemw.emulator import Emulator

# The script pip installed next to this interpreter: the real entry point, not `-m`.
EEMW = shutil.which("eemw", path=str(Path(sys.executable).parent)) or shutil.which("eemw")
TIMEOUT = 60.0
# The smallest pipe Linux makes: a command writing more than twice this much is sure to
# find its reader gone (one pipeful in the pipe, at most one taken by the reader).
PIPE_BYTES = 4096


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    def records(self) -> list[dict[str, Any]]:
        """stdout as JSON lines (every line must parse)."""
        return [json.loads(line) for line in self.out.splitlines()]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without a developer's eemw, colour or terminal-size settings."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("EEMW_") and k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS",
                                                   "GOOGLE_CLOUD_PROJECT", "TERM")
    }
    env.update(extra)
    return env



Run = Callable[..., Result]


def run_into_closing_reader(argv: Sequence[str], env: dict[str, str]) -> tuple[int, bytes, str]:
    """Run with stdout into a small pipe whose reader takes one line, then closes it.

    Returns the exit code, the line read, and stderr. The caller makes the command write
    well over ``2 * PIPE_BYTES``, so it is still writing when the reader goes away.
    """
    import fcntl

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    proc = subprocess.Popen(list(argv), stdout=write_end, stderr=subprocess.PIPE, env=env)
    os.close(write_end)
    with os.fdopen(read_end, "rb", buffering=0) as reader:
        first = b""
        while not first.endswith(b"\n"):
            chunk = reader.read(1)
            if not chunk:
                break
            first += chunk
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, first, err.decode(errors="replace")


def api_paths(emu: Emulator) -> list[str]:
    """The method and path of every API request the emulator received (no token requests)."""
    return [f"{r.method} {r.path}" for r in emu.requests if not r.path.startswith("/token")]


def run_on_tty(argv: Sequence[str], typed: bytes, env: dict[str, str]) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a pseudo-terminal; ``typed`` is the user's input.

    Returns the exit code and everything the terminal showed.
    """
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(list(argv), stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    if typed:
        # The terminal buffers the line until the prompt reads it.
        os.write(master, typed)
    shown = bytearray()
    deadline = time.monotonic() + TIMEOUT
    with selectors.DefaultSelector() as selector:
        selector.register(master, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    os.close(master)
    return proc.wait(timeout=TIMEOUT), shown.decode(errors="replace")
