"""A process that builds a client and gets one operation loads only what that needs.

Serverless users (a process per request or per task) pay every import at every start. Each
test runs in a fresh interpreter, since what is imported is per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Loaded by the calls that need them (list, wait, watch, the bulk calls, the replay cache
# of caller-supplied idempotency keys, telemetry once set up), never by building a client.
LATER = (
    "eemw._bulk", "eemw._paging", "eemw._pagesplit", "eemw._lazyops", "eemw._queue_metrics",
    "eemw._wait", "eemw._watch",
    "eemw._watch_model", "eemw._watch_stream", "eemw._mock", "eemw.testing", "eemw.emulator",
    "eemw._cli", "cachetools", "opentelemetry",
)
# The HTTP transport is loaded by building a client, not by importing eemw.
TRANSPORT = ("eemw._transport", "eemw._attempt", "eemw._watchdog")

SCRIPT = """
import json, sys
from importlib import metadata

import google.oauth2.credentials, requests  # what eemw builds on: what they load is theirs
before = set(sys.modules)

def no_scan(*args, **kwargs):
    raise AssertionError("entry points were scanned")

metadata.entry_points = no_scan  # a client that names no plugin never scans them
import eemw
eemw.Client
imported = sorted(set(sys.modules) - before)
client = eemw.Client("demo", endpoint="http://127.0.0.1:1",
                     credentials=google.oauth2.credentials.Credentials("t"))
built = sorted(set(sys.modules) - before)
client.close()
print(json.dumps([imported, built]))
"""


def loaded(names: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)]


def test_importing_and_building_a_client_loads_no_module_its_first_get_does_not_need() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          check=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "EEMW_PLUGINS"})
    imported, built = json.loads(done.stdout.splitlines()[-1])
    assert loaded(imported, LATER + TRANSPORT) == []
    assert loaded(built, LATER) == []
    assert loaded(built, TRANSPORT) == sorted(TRANSPORT)


def test_the_lazily_loaded_modules_still_serve_their_calls() -> None:
    script = """
import json, sys
from google.auth.credentials import AnonymousCredentials
import eemw

NAME = "projects/demo/operations/op-1"
DONE = {"name": NAME, "done": True, "metadata": {"state": "SUCCEEDED"}}

sent = []

def answer(request):
    sent.append(request.call.kind)
    body = {"operations": [DONE]} if request.call.kind == "list" else DONE
    if request.call.kind in ("cancel", "delete"):
        body = {}
    return eemw.Response(200, eemw.Headers({"Content-Type": "application/json"}),
                         json.dumps(body).encode(), request)

client = eemw.Client("demo", credentials=AnonymousCredentials(), transport=answer)
client.operations.delete(NAME, idempotency_key="k-1")
replayed = client.operations.delete(NAME, idempotency_key="k-1")
print(json.dumps([
    [op.name for op in client.operations.list()],
    client.operations.wait(NAME, timeout=5).done,
    [c.after.state.value for c in client.operations.watch([NAME])],
    replayed.name,
    sent.count("delete"),
]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)
    name = "projects/demo/operations/op-1"
    assert json.loads(done.stdout.splitlines()[-1]) == [[name], True, ["SUCCEEDED"], name, 1]
