"""Fixtures of the unit tests: running an action in a forked child."""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Callable

import pytest

InForkedChild = Callable[[Callable[[], str]], str]


def _in_forked_child(action: Callable[[], str], limit: float = 30.0) -> str:
    """``action()`` run in a child made by ``os.fork()``: what it returned, or the name and
    message of what it raised.

    ``limit`` only guards against a hang (the child is killed past it); it is no timing check.
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's teardown
        os.close(reader)
        try:
            result = action()
        except BaseException as exc:
            result = f"{type(exc).__name__}: {exc}"
        os.write(writer, result.encode())
        os._exit(0)
    os.close(writer)
    try:
        ready, _, _ = select.select([reader], [], [], limit)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"the forked child did not finish within {limit}s")
        return os.read(reader, 65536).decode()
    finally:
        os.close(reader)
        os.waitpid(pid, 0)


@pytest.fixture
def in_forked_child() -> InForkedChild:
    if not hasattr(os, "fork"):
        pytest.skip("os.fork is not available on this platform")
    return _in_forked_child
