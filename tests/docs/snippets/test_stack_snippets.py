"""The code of docs/stack.md and docs/plugins.md, run: each section is included there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import eemw
from eemw.emulator import Emulator


def stamp(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """A plain named function: it joins the attempt phase as "stamp"."""
    return call_next(request.with_header("X-Stamp", "yes"))


class Tag:
    """A configured stage: one header on every call."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        return call_next(request.with_header("X-Tag", self.value))


class FixedRetry:
    """A retry of one's own: ``attempts`` tries, ``pause`` seconds apart."""

    def __init__(self, attempts: int, pause: float) -> None:
        self.attempts = attempts
        self.pause = pause

    def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        for _ in range(self.attempts - 1):
            try:
                return call_next(request)
            except eemw.UnavailableError:
                request.context.get(eemw.keys.SLEEP)(self.pause)
        return call_next(request)


def test_adding_stages(configured_like_production: Emulator) -> None:
    name = configured_like_production.add_operation("demo", state="RUNNING")
    # --8<-- [start:adding]
    client = eemw.Client("demo", middleware=[
        stamp,                                                       # attempt phase, named "stamp"
        eemw.Entry("tag", Tag("batch"), "call", before="retry"),     # placed by phase and anchor
    ])
    # --8<-- [end:adding]
    with client:
        names = client.stack.names()
        assert names.index("tag") == names.index("retry") - 1
        assert names.index("stamp") > names.index("auth")
        client.operations.get(name)
    sent = [r for r in configured_like_production.requests if "/operations/" in r.path]
    assert [(r.headers.get("X-Tag"), r.headers.get("X-Stamp")) for r in sent] == [("batch", "yes")]


def test_replacing_and_removing(configured_like_production: Emulator) -> None:
    # --8<-- [start:replacing]
    client = eemw.Client(
        "demo",
        replace={"retry": FixedRetry(attempts=3, pause=0.5)},   # your object in retry's place
        without=["tracing", "http-tracing"],                    # no spans at all
    )
    # --8<-- [end:replacing]
    with client:
        names = client.stack.names()
        assert "retry" in names
        assert "tracing" not in names and "http-tracing" not in names


# --8<-- [start:context-key]
TEAM: eemw.ContextKey[str] = eemw.ContextKey("acme.team", "unknown")

# --8<-- [end:context-key]


def team_header(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """The stage that reads the key: it sends the team on the wire."""
    return call_next(request.with_header("X-Team", request.context.get(TEAM)))


def test_a_value_of_your_own_on_one_call(
    eemw_emulator: Emulator, eemw_client_factory: Callable[..., eemw.Client]
) -> None:
    client = eemw_client_factory(middleware=[team_header])
    name = eemw_emulator.add_operation("demo", state="RUNNING")
    # --8<-- [start:context-call]
    client.operations.cancel(name, context={TEAM: "mapping"})     # or an eemw.Context
    # --8<-- [end:context-call]
    client.operations.get(name)
    teams = [r.headers.get("X-Team") for r in eemw_emulator.requests if "/operations/" in r.path]
    assert teams == ["mapping", "unknown"]   # one call only; the next gets the key's default


def test_enabling_plugins(configured_like_production: Emulator, tmp_path: Path) -> None:
    audit_log = tmp_path / "eemw-audit.jsonl"
    # --8<-- [start:plugins]
    client = eemw.Client(
        "my-project",
        plugins=["ratelimit", "audit"],
        plugin_settings={"ratelimit": {"qps": "50"}, "audit": {"path": str(audit_log)}},
    )
    print(client.stack.describe())   # plugin stages are marked with their package
    # --8<-- [end:plugins]
    with client:
        described = client.stack.describe()
        assert "eemw-ratelimit" in described and "eemw-audit" in described
        name = configured_like_production.add_operation("my-project", state="RUNNING")
        client.operations.cancel(name)
    assert name in audit_log.read_text(encoding="utf-8")
