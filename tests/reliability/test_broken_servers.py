"""Slow and broken servers: a trickled body, a body cut mid-way, a gigantic body.

Each call ends in a typed error within its timeout (plus a scheduling slack), and the
memory the client allocates during the call stays bounded by the transport's body cap, not
by what the server sends. The emulator runs in a child process, so ``tracemalloc`` sees
the client's allocations only (the server builds its 16 MiB answer in its own memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

import eemw

CAP = 64 * 1024  # the client's body cap
HUGE = 16 * 1024 * 1024  # what the server sends: 256 times the cap
MEMORY_SLACK = 1024 * 1024  # the client's own working memory for one call
TIMEOUT = 1.0
SLACK = 2.0
POLICY = eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.01, attempt_timeout=0.3)

_SERVER = """
import json, sys
from eemw.emulator import Emulator, Fault

faults = {
    "trickle": {"kind": "trickle", "delay": 0.05},  # 16 bytes every 50 ms
    "truncate": {"kind": "truncate"},
    "huge": {"kind": "huge", "size": int(sys.argv[1])},
}
with Emulator(record=False) as emu:
    names = {}
    for kind, spec in faults.items():
        names[kind] = emu.add_operation("demo", id=kind, state="RUNNING", description="d" * 2000)
        emu.add_fault(Fault(times=None, path_contains="/operations/" + kind, **spec))
    print(json.dumps({"url": emu.url, "token": emu.issue_token(), "names": names}), flush=True)
    sys.stdin.read()  # serve until the test closes this process's stdin
"""


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, Any]]:
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(HUGE)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        info: dict[str, Any] = json.loads(child.stdout.readline())
        yield info
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)


@pytest.fixture
def client(server: dict[str, Any]) -> Iterator[eemw.Client]:
    transport = eemw.RequestsTransport(max_body_bytes=CAP)
    client = eemw.Client(
        "demo", endpoint=server["url"], credentials=Credentials(token=server["token"]),
        transport=transport, retry=POLICY,
    )
    yield client
    transport.close()


def measured_get(client: eemw.Client, name: str) -> tuple[BaseException, float, int]:
    """The error a get raised, its wall time, and the peak memory allocated during it."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        client.operations.get(name, timeout=TIMEOUT)
    except Exception as caught:
        error: BaseException = caught
    else:
        pytest.fail(f"get {name} succeeded against a broken server")
    finally:
        seconds = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return error, seconds, peak


@pytest.mark.parametrize(
    ("kind", "expected", "last"),
    [
        # Every attempt times out reading the trickle, until the deadline stops the call
        # (or the next retry would pass it): a timeout either way.
        ("trickle", eemw.TimedOutError, eemw.ReadTimeoutError),
        # A cut body is a read failure: get is safe to repeat, so it is retried, then gives up.
        ("truncate", eemw.ReadError, eemw.ReadError),
        # The body is read up to the cap only, and a cut success body is malformed.
        ("huge", eemw.MalformedResponseError, eemw.MalformedResponseError),
    ],
)
def test_broken_server_ends_in_a_typed_error_within_the_timeout_and_the_cap(
    client: eemw.Client, server: dict[str, Any], kind: str,
    expected: type[BaseException], last: type[BaseException],
) -> None:
    error, seconds, peak = measured_get(client, server["names"][kind])
    assert isinstance(error, expected), repr(error)
    assert isinstance(error, eemw.EemwError)
    assert isinstance(error.last_error, last), repr(error.last_error)
    assert seconds <= TIMEOUT + SLACK
    assert peak < CAP + MEMORY_SLACK, f"{peak} bytes allocated for a {kind} body"
