"""Installed plugins are listed from metadata, and only the named ones are ever imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import metadata

import pytest

import eemw

# Runs in a fresh interpreter: other tests' imports cannot hide an unwanted import here.
_PROBE_IMPORTS = """
import json, sys
import eemw
from eemw.testing import MockTransport, respond
from google.auth.credentials import AnonymousCredentials

def answer(request):
    return respond(request, json={"name": request.call.name, "done": False})

def build(plugins):
    client = eemw.Client("demo", transport=MockTransport(answer),
                         credentials=AnonymousCredentials(), plugins=plugins)
    client.operations.get("op-1")
    return [e.name for e in client.stack.entries]

def imported():
    return sorted(m for m in sys.modules if m.startswith("eemw_"))

listed = [p.name for p in eemw.installed_plugins()]
after_listing = imported()
default_stack = build(None)
after_default = imported()
empty_stack = build([])
probe_stack = build(["probe"])
print(json.dumps({
    "listed": listed, "after_listing": after_listing, "default_stack": default_stack,
    "after_default": after_default, "empty_stack": empty_stack, "probe_stack": probe_stack,
    "after_probe": imported(),
}))
"""


@pytest.fixture(scope="module")
def fresh_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EEMW_PLUGIN")}
    # An empty working directory: eemw is imported as installed, like a user's program would.
    done = subprocess.run(
        [sys.executable, "-c", _PROBE_IMPORTS], env=env, capture_output=True, text=True,
        timeout=120, check=False, cwd=tmp_path_factory.mktemp("fresh"),
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_listing_plugins_imports_none_of_them(fresh_process: dict[str, list[str]]) -> None:
    assert {"ratelimit", "audit", "broken-import", "probe"} <= set(fresh_process["listed"])
    assert fresh_process["after_listing"] == []


def test_installed_plugins_change_nothing_until_named(fresh_process: dict[str, list[str]]) -> None:
    # Installed and even broken plugins are present, yet the default stack is the built-ins.
    assert fresh_process["default_stack"] == fresh_process["empty_stack"]
    assert fresh_process["after_default"] == []


def test_only_the_named_plugin_is_imported(fresh_process: dict[str, list[str]]) -> None:
    assert "probe" in fresh_process["probe_stack"]
    assert fresh_process["after_probe"] == ["eemw_test_stages"]


def test_installed_plugins_come_from_distribution_metadata() -> None:
    found = {p.name: p for p in eemw.installed_plugins()}
    for name, dist in (("ratelimit", "eemw-ratelimit"), ("audit", "eemw-audit")):
        info = found[name]
        assert info.distribution == dist
        assert info.version == metadata.version(dist)
        assert info.target == f"eemw_{name}:factory"
        assert str(info) == f"{name} ({dist} {info.version})"


def test_installed_plugins_are_sorted_by_name() -> None:
    names = [p.name for p in eemw.installed_plugins()]
    assert names == sorted(names)


def test_an_unknown_name_lists_the_installed_plugins(
    make_client: Callable[..., eemw.Client],
) -> None:
    with pytest.raises(eemw.PluginError) as caught:
        make_client(plugins=["ratelimitt"])
    message = str(caught.value)
    assert caught.value.plugin == "ratelimitt"
    assert "unknown plugin 'ratelimitt'" in message
    assert "did you mean 'ratelimit'?" in message
    for info in eemw.installed_plugins():
        assert str(info) in message


def test_a_name_two_distributions_provide_is_refused(
    make_client: Callable[..., eemw.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = metadata.distribution("eemw-ratelimit").entry_points
    copy = metadata.EntryPoint("ratelimit", "eemw_readonly:factory", eemw.ENTRY_POINT_GROUP)
    monkeypatch.setattr(metadata, "entry_points", lambda group: [*real, copy])
    with pytest.raises(eemw.PluginError, match="more than one installed distribution"):
        make_client(plugins=["ratelimit"])
