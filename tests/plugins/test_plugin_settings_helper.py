"""eemw.PluginSettings: typed settings for plugin factories, errors that name the setting."""

from __future__ import annotations

import pytest

import eemw
from eemw import _plugins


def settings(**values: str) -> eemw.PluginSettings:
    return eemw.PluginSettings(values, plugin="demo-plugin")


def test_absent_settings_give_the_defaults() -> None:
    s = settings()
    assert s.number("rate", 2.5) == 2.5
    assert s.integer("size", 3) == 3
    assert s.flag("on", True) is True
    assert s.choice("mode", ("a", "b"), "b") == "b"
    assert s.text("name") is None
    assert s.text("name", "x") == "x"


def test_values_are_parsed() -> None:
    s = settings(rate=" 2.5 ", size="7", on="No", mode="B", name=" n ")
    assert s.number("rate", 0, above=0) == 2.5
    assert s.integer("size", 0, minimum=1, maximum=10) == 7
    assert s.flag("on", True) is False
    assert s.choice("mode", ("a", "b"), "a") == "b"
    assert s.text("name") == "n"
    assert dict(s) == {"rate": " 2.5 ", "size": "7", "on": "No", "mode": "B", "name": " n "}


@pytest.mark.parametrize(
    ("key", "value", "read", "expected"),
    [
        ("rate", "x", lambda s: s.number("rate", 1), "must be a number, not 'x'"),
        ("rate", "inf", lambda s: s.number("rate", 1), "must be a number"),
        ("rate", "0", lambda s: s.number("rate", 1, above=0), "must be a number > 0"),
        ("rate", "11", lambda s: s.number("rate", 1, maximum=10), "<= 10"),
        ("size", "1.5", lambda s: s.integer("size", 1), "must be a whole number"),
        ("size", "0", lambda s: s.integer("size", 1, minimum=1), "whole number >= 1"),
        ("on", "maybe", lambda s: s.flag("on", False), "must be true or false"),
        ("mode", "c", lambda s: s.choice("mode", ("a", "b"), "a"), "must be one of a, b"),
    ],
)
def test_bad_values_name_the_setting_and_where_to_set_it(
    key: str, value: str, read: object, expected: str
) -> None:
    with pytest.raises(eemw.PluginSettingError) as caught:
        read(settings(**{key: value}))  # type: ignore[operator]
    error = caught.value
    assert isinstance(error, eemw.PluginError)
    assert (error.plugin, error.setting) == ("demo-plugin", key)
    assert expected in str(error)
    assert f"EEMW_PLUGIN_DEMO_PLUGIN_{key.upper()}" in str(error)


def test_unknown_settings_are_refused_with_the_accepted_ones() -> None:
    with pytest.raises(eemw.PluginSettingError, match=r"accepts \['rate', 'size'\]") as caught:
        eemw.PluginSettings({"rtae": "1"}, plugin="p", known=["size", "rate"])
    assert caught.value.setting == "rtae"


def test_long_values_and_reprs_do_not_echo_what_may_be_a_secret() -> None:
    secret = "s3cr3t-" * 10
    s = settings(rate=secret)
    with pytest.raises(eemw.PluginSettingError) as caught:
        s.number("rate", 1)
    assert secret not in str(caught.value)
    assert secret not in repr(s)


def test_a_custom_check_names_the_setting() -> None:
    error = settings(path="/nowhere").error("path", "names a missing directory")
    assert error.setting == "path"
    assert str(error).startswith("plugin 'demo-plugin': setting 'path' names a missing directory")


class _ServiceAccount:
    service_account_email = "robot@demo.iam.gserviceaccount.com"


class _ComputeBeforeRefresh:
    service_account_email = "default"


class _User:
    account = "someone@example.com"


@pytest.mark.parametrize(
    ("credentials", "identity"),
    [
        (_ServiceAccount(), "robot@demo.iam.gserviceaccount.com"),
        (_ComputeBeforeRefresh(), None),
        (_User(), "someone@example.com"),
        (object(), None),
    ],
)
def test_caller_identity_is_what_the_credentials_report(
    credentials: object, identity: str | None
) -> None:
    assert _plugins.caller_identity(credentials) == identity
