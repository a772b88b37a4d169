"""Plugins are enabled by argument or environment, with settings from either."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import eemw
from eemw.testing import MockTransport


def names(client: eemw.Client) -> list[str]:
    return [e.name for e in client.stack.entries]


def probe_header(client: eemw.Client, transport: MockTransport) -> str:
    client.operations.get("op-1")
    value: str = transport.requests[-1].headers["X-Probe"]
    return value


def test_enabled_by_argument(make_client: Callable[..., eemw.Client]) -> None:
    client = make_client(plugins=["ratelimit", "audit"])
    assert {"ratelimit", "audit"} <= set(names(client))


def test_enabled_by_environment(
    make_client: Callable[..., eemw.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EEMW_PLUGINS", " ratelimit, ,audit,ratelimit ")
    client = make_client()
    assert names(client).count("ratelimit") == 1
    assert "audit" in names(client)


def test_the_argument_wins_over_the_environment(
    make_client: Callable[..., eemw.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EEMW_PLUGINS", "ratelimit")
    assert "ratelimit" not in names(make_client(plugins=[]))
    only_audit = names(make_client(plugins=["audit"]))
    assert "audit" in only_audit
    assert "ratelimit" not in only_audit


def test_settings_from_the_environment(
    make_client: Callable[..., eemw.Client],
    transport: MockTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EEMW_PLUGINS", "probe")
    monkeypatch.setenv("EEMW_PLUGIN_PROBE_TAG", "from-env")
    assert probe_header(make_client(), transport) == "from-env"


def test_settings_given_in_code_override_the_environment(
    make_client: Callable[..., eemw.Client],
    transport: MockTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EEMW_PLUGIN_PROBE_TAG", "from-env")
    client = make_client(plugins=["probe"], plugin_settings={"probe": {"tag": "from-code"}})
    assert probe_header(client, transport) == "from-code"


def test_typed_settings_reach_the_plugin(make_client: Callable[..., eemw.Client]) -> None:
    client = make_client(
        plugins=["ratelimit"],
        plugin_settings={"ratelimit": {"qps": 50, "burst": "5", "mode": "FAIL"}},
    )
    limiter = next(e.middleware for e in client.stack.entries if e.name == "ratelimit")
    assert (limiter.qps, limiter.burst, limiter.mode) == (50.0, 5.0, "fail")  # type: ignore[attr-defined]


def test_environment_settings_of_other_plugins_are_ignored(
    make_client: Callable[..., eemw.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Shared environments carry settings for plugins a given client does not use.
    monkeypatch.setenv("EEMW_PLUGIN_RATELIMIT_QSP", "1")
    assert "probe" in names(make_client(plugins=["probe"]))


def test_settings_for_a_plugin_that_is_not_enabled_are_refused(
    make_client: Callable[..., eemw.Client],
) -> None:
    with pytest.raises(eemw.PluginError, match=r"not enabled: \['ratelimit'\]"):
        make_client(plugins=["audit"], plugin_settings={"ratelimit": {"qps": "5"}})


def test_a_string_is_not_a_list_of_plugins(make_client: Callable[..., eemw.Client]) -> None:
    with pytest.raises(eemw.PluginError, match="list of plugin names"):
        make_client(plugins="ratelimit")


@pytest.mark.parametrize(
    ("settings", "setting", "text"),
    [
        ({"qps": "fast"}, "qps", "must be a number > 0, not 'fast'"),
        ({"qps": "0"}, "qps", "must be a number > 0"),
        ({"qps": "nan"}, "qps", "must be a number > 0"),
        ({"qsp": "5"}, "qsp", "is not a setting of this plugin"),
        ({"mode": "sometimes"}, "mode", "must be one of block, fail"),
        ({"qps": "5", "min_qps": "10"}, "min_qps", "must not be larger than qps"),
        ({"burst": "0.5"}, "burst", "must be a number >= 1"),
    ],
)
def test_a_bad_setting_is_named(
    make_client: Callable[..., eemw.Client], settings: dict[str, str], setting: str, text: str
) -> None:
    with pytest.raises(eemw.PluginSettingError) as caught:
        make_client(plugins=["ratelimit"], plugin_settings={"ratelimit": settings})
    error = caught.value
    assert (error.plugin, error.setting) == ("ratelimit", setting)
    assert error.distribution == "eemw-ratelimit"
    assert text in str(error)
    assert f"EEMW_PLUGIN_RATELIMIT_{setting.upper()}" in str(error)


def test_a_bad_setting_from_the_environment_is_named(
    make_client: Callable[..., eemw.Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EEMW_PLUGINS", "ratelimit")
    monkeypatch.setenv("EEMW_PLUGIN_RATELIMIT_MAX_WAIT", "-1")
    with pytest.raises(eemw.PluginSettingError) as caught:
        make_client()
    assert caught.value.setting == "max_wait"


def test_a_setting_that_is_not_text_is_refused(make_client: Callable[..., eemw.Client]) -> None:
    with pytest.raises(eemw.PluginSettingError) as caught:
        make_client(plugins=["ratelimit"], plugin_settings={"ratelimit": {"qps": [5]}})
    assert caught.value.setting == "qps"
