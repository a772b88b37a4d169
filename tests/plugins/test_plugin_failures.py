"""A broken plugin fails loudly, naming itself and its distribution; a plugin that raises
while handling a call does not break the client."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import eemw
from eemw.testing import MockTransport


def load_error(make_client: Callable[..., eemw.Client], name: str) -> eemw.PluginError:
    with pytest.raises(eemw.PluginError) as caught:
        make_client(plugins=[name])
    return caught.value


def test_a_plugin_that_fails_to_import(make_client: Callable[..., eemw.Client]) -> None:
    error = load_error(make_client, "broken-import")
    assert (error.plugin, error.distribution) == ("broken-import", "eemw-broken-plugin")
    assert isinstance(error.__cause__, ImportError)
    assert "eemw_no_such_dependency" in str(error.__cause__)
    message = str(error)
    assert "'broken-import'" in message
    assert "eemw-broken-plugin" in message
    assert "failed to import eemw_broken_plugin.needs_missing:factory" in message


def test_a_factory_that_raises(make_client: Callable[..., eemw.Client]) -> None:
    error = load_error(make_client, "broken-factory")
    assert (error.plugin, error.distribution) == ("broken-factory", "eemw-broken-plugin")
    assert isinstance(error.__cause__, RuntimeError)
    assert "'broken-factory' (from eemw-broken-plugin) could not be created" in str(error)
    assert "no backend configured" in str(error)


def test_a_factory_that_returns_something_else(make_client: Callable[..., eemw.Client]) -> None:
    error = load_error(make_client, "not-an-entry")
    assert error.distribution == "eemw-test-stages"
    assert "must return an eemw.Entry, not function" in str(error)


def test_one_broken_plugin_stops_the_client_whatever_the_order(
    make_client: Callable[..., eemw.Client],
) -> None:
    with pytest.raises(eemw.PluginError) as caught:
        make_client(plugins=["ratelimit", "broken-factory", "audit"])
    assert caught.value.plugin == "broken-factory"


def test_a_plugin_raising_in_a_call_is_named_and_the_client_keeps_working(
    make_client: Callable[..., eemw.Client], transport: MockTransport
) -> None:
    client = make_client(plugins=["flaky"])
    with pytest.raises(eemw.PluginError) as caught:
        client.operations.get("boom")
    error = caught.value
    assert (error.plugin, error.distribution) == ("flaky", "eemw-test-stages")
    assert isinstance(error.__cause__, ValueError)
    assert "operations.get" in str(error)
    assert transport.requests == []  # raised before sending, and not retried

    op = client.operations.get("fine")
    assert op.name == "projects/demo/operations/fine"
    assert len(transport.requests) == 1
