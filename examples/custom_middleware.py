"""A middleware written inline and placed in the pipeline relative to ``auth``.

Shows the two ways to place your own stage: by phase (``"call"`` runs once per logical
call, ``"attempt"`` once per HTTP attempt) and, when you accept the coupling, next to a
named built-in stage with ``before=`` / ``after=``. Here:

- ``attempt-log`` sits right after ``auth`` in the attempt phase, so it sees every retry
  and the request as it will be sent (it checks that a token is present but never prints
  it);
- ``tag`` sits before ``retry`` in the call phase and adds a header once per call.

Runs against the embedded emulator, with one injected 503 to show a retry:

    python examples/custom_middleware.py
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import eemw
from eemw.emulator import Emulator, Fault


def attempt_log(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """Logs each HTTP attempt: method, path, outcome and time. A plain function works.

    It sits outside ``check``, so a non-2xx answer reaches it as a typed exception.
    """
    started = time.perf_counter()
    has_token = request.headers.get("Authorization", "").startswith("Bearer ")
    where = f"{request.method} {urlsplit(request.url).path}"
    try:
        response = call_next(request)
    except eemw.EemwError as error:
        print(f"  attempt {where} -> {type(error).__name__} in {_ms(started)}")
        raise
    print(f"  attempt {where} -> {response.status} in {_ms(started)} "
          f"(bearer token present: {has_token})")
    return response


def _ms(started: float) -> str:
    return f"{(time.perf_counter() - started) * 1000:.1f} ms"


class Tag:
    """A configured middleware: adds one header to every call. Keeps no per-call state."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        return call_next(request.with_header("X-Example-Tag", self.value))


def main() -> int:
    stages = [
        eemw.Entry("attempt-log", attempt_log, "attempt", after="auth"),
        eemw.Entry("tag", Tag("custom-middleware-example"), "call", before="retry"),
    ]
    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING", description="Export field boundaries")
        emu.add_fault(Fault(status=503, times=1))  # the first attempt fails, retry recovers
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(), middleware=stages,
            retry=eemw.RetryPolicy(initial_backoff=0.01, max_backoff=0.05),
        ) as client:
            print("The resolved stack (outermost first):")
            print(client.stack.describe())
            print("\nget, with one injected 503:")
            op = client.operations.get(name)
            print(f"-> {op.id} is {op.state.value}")
        tags = {r.headers.get("X-Example-Tag") for r in emu.requests if "/operations/" in r.path}
        print(f"\nheader the emulator received on every attempt: X-Example-Tag={tags.pop()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
