"""One member of a test fleet, run as its own process by the fleet tests and the bench.

Configured the way a Kubernetes pod or a Dataflow worker is: the ratelimit plugin comes
from EEMW_PLUGINS/EEMW_PLUGIN_RATELIMIT_* in the environment; argv[1] is a JSON object:

- ``endpoint``: the server (None: an in-process transport that answers at once, or
  that never answers when ``hold`` is true);
- ``calls``: how many list calls to make, or None to go on until stdin is closed;
- ``threads``: callers in parallel (default 1); ``project``: the quota project;
- ``wait_go``: print ``ready`` and wait for a line on stdin before the first call, so a
  whole fleet starts at once.

It prints ``sent <shared|degraded> <time.monotonic()>`` after each call (when ``calls`` is
None; the monotonic clock is the machine's, so lines of two workers can be ordered),
``holding`` from inside a held attempt, and a JSON summary last: calls answered, calls
refused by the limiter, HTTP statuses seen per attempt.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from typing import Any

from eemw_ratelimit import RateLimitedError, RateLimiter
from google.auth.credentials import AnonymousCredentials

import eemw
from eemw.testing import respond


def main() -> None:
    config: dict[str, Any] = json.loads(sys.argv[1])
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    stop = threading.Event()
    inner = _inner_transport(config, stop)

    def counting(request: eemw.Request) -> eemw.Response:
        response = inner(request)
        with lock:
            statuses[response.status] += 1
        return response

    client = eemw.Client(
        config.get("project", "demo"), endpoint=config.get("endpoint") or eemw.DEFAULT_ENDPOINT,
        credentials=AnonymousCredentials(), transport=counting,
        retry=eemw.RetryPolicy(max_attempts=20, initial_backoff=0.01, max_backoff=0.2),
    )
    limiter = next(e.middleware for e in client.stack.entries if e.name == "ratelimit")
    assert isinstance(limiter, RateLimiter)
    totals: Counter[str] = Counter()
    out = threading.Lock()

    def caller(count: int | None) -> None:
        done = 0
        while (count is None and not stop.is_set()) or (count is not None and done < count):
            done += 1
            try:
                list(client.operations.list(limit=1))
                outcome = "answered"
            except RateLimitedError:
                outcome = "refused"
            except eemw.EemwError as exc:
                outcome = type(exc).__name__
            with out:
                totals[outcome] += 1
                if count is None:
                    state = "degraded" if limiter.degraded else "shared"
                    print(f"sent {state} {time.monotonic():.6f}", flush=True)

    if config.get("wait_go"):
        print("ready", flush=True)
        sys.stdin.readline()
    if config.get("calls") is None:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    threads = [threading.Thread(target=caller, args=(config.get("calls"),))
               for _ in range(config.get("threads", 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"calls": dict(totals), "statuses": dict(statuses)}), flush=True)


def _inner_transport(config: dict[str, Any], stop: threading.Event) -> eemw.Handler:
    if config.get("endpoint"):
        return eemw.RequestsTransport()
    hold = bool(config.get("hold"))

    def local(request: eemw.Request) -> eemw.Response:
        if hold:
            print("holding", flush=True)
            stop.wait()  # until killed
        return respond(request, json={})

    return local


if __name__ == "__main__":
    main()
