"""Stages that hold a resource are closed by the client that created them, innermost first."""

from __future__ import annotations

from collections.abc import Callable

import eemw_test_stages as stages
import pytest

import eemw


def test_client_close_closes_plugin_stages_in_reverse_stack_order(
    make_client: Callable[..., eemw.Client],
) -> None:
    stages.CLOSED.clear()
    client = make_client(plugins=["holder-call", "holder-attempt"])
    client.operations.get("op-1")
    assert stages.CLOSED == []
    client.close()
    # holder-attempt sits below holder-call in the stack, so it is released first.
    assert stages.CLOSED == ["holder-attempt", "holder-call"]
    client.close()
    assert stages.CLOSED == ["holder-attempt", "holder-call"]  # once only


def test_a_stage_the_caller_passed_in_stays_open(
    make_client: Callable[..., eemw.Client],
) -> None:
    closed: list[str] = []

    class Mine:
        def __call__(self, request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
            return call_next(request)

        def close(self) -> None:
            closed.append("mine")

    with make_client(middleware=[eemw.Entry("mine", Mine(), "attempt")],
                     replace={"tracing": Mine()}):
        pass
    assert closed == []  # like a transport passed in: the caller's to close


def test_a_close_that_fails_does_not_keep_the_rest_open(
    make_client: Callable[..., eemw.Client],
) -> None:
    stages.CLOSED.clear()
    client = make_client(plugins=["holder-call", "holder-attempt"])
    inner = next(e.middleware for e in client.stack.entries if e.name == "holder-attempt")

    def broken() -> None:
        raise OSError("disk gone")

    inner.close = broken  # type: ignore[attr-defined]
    with pytest.raises(OSError, match="disk gone"):
        client.close()
    assert stages.CLOSED == ["holder-call"]
