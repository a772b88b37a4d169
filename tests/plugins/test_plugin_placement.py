"""Plugin stages land where their placement says, visibly, or the client is not built."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import eemw


def names(client: eemw.Client) -> list[str]:
    return [e.name for e in client.stack.entries]


def test_anchored_plugins_sit_next_to_their_anchor(
    make_client: Callable[..., eemw.Client],
) -> None:
    builtin = names(make_client(plugins=[]))
    order = names(make_client(plugins=["ratelimit", "audit", "probe", "early"]))
    assert [n for n in order if n in builtin] == builtin
    assert order.index("ratelimit") == order.index("auth") + 1  # after="auth"
    assert order.index("audit") == order.index("idempotency") + 1  # after="idempotency"
    assert order.index("probe") == order.index("check") - 1  # before="check"
    assert order.index("early") == order.index("idempotency") - 1  # before="idempotency"


def test_phases_are_respected(make_client: Callable[..., eemw.Client]) -> None:
    client = make_client(plugins=["ratelimit", "audit", "probe", "early"])
    phase = {e.name: e.phase for e in client.stack.entries}
    order = names(client)
    for name in ("audit", "early"):
        assert phase[name] == "call"
        assert order.index(name) < order.index("retry")
    for name in ("ratelimit", "probe"):
        assert phase[name] == "attempt"
        assert order.index(name) > order.index("retry")


def test_an_unanchored_plugin_goes_last_in_its_phase(
    make_client: Callable[..., eemw.Client],
) -> None:
    order = names(make_client(plugins=["flaky"]))
    assert order.index("flaky") == order.index("check") - 1


def test_describe_shows_the_resolved_order_and_origin(
    make_client: Callable[..., eemw.Client],
) -> None:
    client = make_client(plugins=["ratelimit", "audit"])
    lines = client.stack.describe().splitlines()
    listed = [line.split()[1] for line in lines if line.split()[0].rstrip(".").isdigit()]
    assert listed == names(client)
    by_name = {line.split()[1]: line for line in lines if line.split()[0][0].isdigit()}
    assert "plugin from eemw-ratelimit" in by_name["ratelimit"]
    assert "plugin from eemw-audit" in by_name["audit"]
    assert "plugin from" not in by_name["auth"]


def test_entries_record_the_distribution(make_client: Callable[..., eemw.Client]) -> None:
    client = make_client(plugins=["ratelimit"])
    origin = {e.name: e.plugin for e in client.stack.entries}
    assert origin["ratelimit"] == "eemw-ratelimit"
    assert origin["auth"] is None


def test_a_missing_anchor_fails_when_the_client_is_built(
    make_client: Callable[..., eemw.Client],
) -> None:
    with pytest.raises(eemw.StackError, match="'no-such-stage'") as caught:
        make_client(plugins=["misplaced"])
    assert isinstance(caught.value, eemw.UsageError)
    assert "'misplaced'" in str(caught.value)


def test_a_duplicate_name_fails_when_the_client_is_built(
    make_client: Callable[..., eemw.Client],
) -> None:
    with pytest.raises(eemw.StackError, match="duplicate stage name 'auth'"):
        make_client(plugins=["impostor"])


def test_an_anchor_in_the_other_phase_fails(make_client: Callable[..., eemw.Client]) -> None:
    with pytest.raises(eemw.StackError, match="'cross-phase'"):
        make_client(plugins=["cross-phase"])
