"""Change the built-in stack: your own retry stage, no tracing, and a key of your own per call.

Shows the three ways a client's stack is changed besides adding stages:

- ``replace={"retry": ...}`` puts your own middleware in the retry stage's place (it still
  closes the call phase, so stages you add go in front of it);
- ``without=["tracing", "http-tracing"]`` removes the two tracing stages;
- ``context={KEY: value}`` sets a context key of your own on one call, which a stage of
  yours reads (here a plain function, which joins the attempt phase under its own name).

Runs against the embedded emulator, with two injected 503s the custom retry rides out:

    python examples/replace_stages.py
"""

from __future__ import annotations

import eemw
from eemw.emulator import Emulator, Fault

TEAM: eemw.ContextKey[str] = eemw.ContextKey("example.team", "unknown")
"""A key of this example's own: which team a call is made for."""


class FixedRetry:
    """A retry stage of your own: up to ``attempts`` tries, a fixed pause between them.

    Like every middleware it keeps no per-call state, and it waits on the client's sleep
    (``eemw.keys.SLEEP``), so a test with a fake clock never really sleeps.
    """

    def __init__(self, attempts: int, pause: float) -> None:
        self.attempts = attempts
        self.pause = pause

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        sleep = request.context.get(eemw.keys.SLEEP)
        for attempt in range(1, self.attempts + 1):
            try:
                return call_next(request)
            except eemw.UnavailableError:
                if attempt == self.attempts:
                    raise
                print(f"  attempt {attempt} got 503; trying again in {self.pause}s")
                sleep(self.pause)
        raise AssertionError("unreachable")


def team_header(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """Sends the caller's team with every attempt: a plain function is a stage too."""
    return call_next(request.with_header("X-Example-Team", request.context.get(TEAM)))


def main() -> int:
    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING", description="Basemap tiles")
        emu.add_fault(Fault(status=503, times=2))
        with eemw.Client(
            "demo", endpoint=emu.url, credentials=emu.credentials(),
            replace={"retry": FixedRetry(attempts=3, pause=0.01)},
            without=["tracing", "http-tracing"],
            middleware=[team_header],
        ) as client:
            print("The resolved stack (outermost first):")
            print(client.stack.describe())
            print("\nget, with two injected 503s:")
            op = client.operations.get(name, context={TEAM: "mapping"})
            print(f"-> {op.id} is {op.state.value}")
        teams = {r.headers.get("X-Example-Team", "") for r in emu.requests
                 if "/operations/" in r.path}
        print(f"\nteam the emulator received on every attempt: {', '.join(sorted(teams))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
