"""Fleet tests: a real redis-server, and worker processes that talk through pipes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eemw_ratelimit.testing import RedisServer

WORKER = Path(__file__).with_name("fleet_worker.py")


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


class Worker:
    """A fleet_worker.py process; its stdout is read line by line, never slept on."""

    def __init__(self, config: dict[str, Any], settings: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EEMW_")}
        env["EEMW_PLUGINS"] = "ratelimit"
        env.update({f"EEMW_PLUGIN_RATELIMIT_{k.upper()}": v for k, v in settings.items()})
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), json.dumps(config)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._buffer = b""

    def read_until(self, done: Callable[[list[str]], bool], within: float = 30) -> None:
        """Read stdout until ``done(lines)``; fail if the worker exits or time runs out."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + within
        while not done(self.lines):
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                pytest.fail(f"worker stuck; it printed {self.lines[-5:]}")
            chunk = os.read(fd, 65536)
            if not chunk:
                pytest.fail(f"worker exited: {self.stderr()}")
            self._buffer += chunk
            *complete, self._buffer = self._buffer.split(b"\n")
            self.lines += [line.decode() for line in complete]

    def go(self) -> None:
        """Wait for ``ready``, then let a ``wait_go`` worker start."""
        self.read_until(lambda lines: "ready" in lines)
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def finish(self, within: float = 60) -> dict[str, Any]:
        """Close stdin (the stop signal), wait for the exit, return the JSON summary."""
        out, err = self.process.communicate(timeout=within)  # closes stdin first
        lines = [*self.lines, *(self._buffer + out).decode().splitlines()]
        assert self.process.returncode == 0, err.decode()
        self.stderr_text = err.decode()
        summary: dict[str, Any] = json.loads(lines[-1])
        self.lines = lines[:-1]
        return summary

    def stderr(self) -> str:
        assert self.process.stderr is not None
        self.process.kill()
        return self.process.stderr.read().decode()[-2000:]

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(config: dict[str, Any], **settings: str) -> Worker:
        worker = Worker(config, settings)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()
