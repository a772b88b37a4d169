"""Plugin discovery and loading through the ``eemw.middleware`` entry-point group.

An entry point names a *factory*: a callable that takes the plugin's settings (a
``Mapping[str, str]``) and returns an :class:`~eemw.Entry` — the middleware with its
name, phase and optional ``before=`` / ``after=`` anchor.

Installed plugins are listed from distribution metadata without being imported
(:func:`installed_plugins`). A plugin is imported only when it is named, by
``Client(plugins=[...])`` or, when that argument is ``None``, by ``EEMW_PLUGINS=a,b``:
installing a package never changes a pipeline by itself. Settings come from
``Client(plugin_settings={name: {key: value}})`` over ``EEMW_PLUGIN_<NAME>_<KEY>``
environment variables (the key lower-cased).

Failures are early and name their source: an unknown name lists what is installed; an
import failure or a factory that raises gives :class:`~eemw.PluginError` naming the plugin
and its distribution, with the cause chained; a bad setting gives
:class:`PluginSettingError` naming the setting. Placement errors (a missing anchor, a
duplicate name) are :class:`~eemw.StackError` when the client's stack is built.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from ._errors import PluginError
from ._http import ContextKey
from ._pipeline import Entry
from ._value import frozen

if TYPE_CHECKING:
    from importlib import metadata

__all__ = [
    "CALLER_IDENTITY",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginSettingError",
    "caller_identity",
    "enabled_names",
    "installed_plugins",
    "plugin_entries",
    "settings_for",
]

ENTRY_POINT_GROUP = "eemw.middleware"
"""The entry-point group in which installed plugins are found."""
ENV_PLUGINS = "EEMW_PLUGINS"
_ENV_SETTING_PREFIX = "EEMW_PLUGIN_"

CALLER_IDENTITY: ContextKey[str | None] = ContextKey("eemw.caller_identity", None)
"""Who is calling, as the client's credentials report it (a service-account e-mail), or
``None`` when they do not say. Set by the client on every request; never a token."""


def caller_identity(credentials: object) -> str | None:
    """The account ``credentials`` report: ``service_account_email``, else ``account``.

    Only a value that looks like an e-mail counts: Compute Engine credentials report
    ``"default"`` until their first refresh, which names nobody.
    """
    for attribute in ("service_account_email", "account"):
        value = getattr(credentials, attribute, None)
        if isinstance(value, str) and "@" in value:
            return value
    return None


@frozen
class PluginInfo:
    """An installed plugin, known from its distribution's metadata (not imported).

    ``target`` is the entry point's ``module:factory`` reference.
    """

    name: str
    distribution: str
    version: str
    target: str

    def __init__(self, name: str, distribution: str, version: str, target: str) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "distribution", distribution)
        object.__setattr__(self, "version", version)
        object.__setattr__(self, "target", target)

    def __str__(self) -> str:
        return f"{self.name} ({self.distribution} {self.version})"


def installed_plugins() -> list[PluginInfo]:
    """Every plugin installed in this environment, sorted by name. Imports none of them."""
    from importlib import metadata  # a client that names no plugin never reads metadata

    found = [_info(ep) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return sorted(found, key=lambda p: (p.name, p.distribution))


def _info(ep: metadata.EntryPoint) -> PluginInfo:
    dist = ep.dist
    if dist is None:
        return PluginInfo(ep.name, "unknown distribution", "?", ep.value)
    return PluginInfo(ep.name, dist.metadata["Name"], dist.version, ep.value)


def enabled_names(
    plugins: Sequence[str] | None, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The plugin names to load, without repeats: the argument, else ``EEMW_PLUGINS``.

    An explicit argument (even an empty list) wins over the environment.
    """
    if plugins is None:
        env = os.environ if environ is None else environ
        names = env.get(ENV_PLUGINS, "").split(",")
    else:
        if isinstance(plugins, str) or not isinstance(plugins, Iterable):
            raise PluginError(
                f"plugins must be a list of plugin names, not {type(plugins).__name__} "
                "(e.g. plugins=['ratelimit'])"
            )
        names = list(plugins)
        for name in names:
            if not isinstance(name, str):
                raise PluginError(f"plugin names must be strings, not {type(name).__name__}")
    return list(dict.fromkeys(n.strip() for n in names if n.strip()))


def env_setting(plugin: str, key: str) -> str:
    """The environment variable that sets ``key`` for ``plugin``."""
    return f"{_env_prefix(plugin)}{key.upper()}"


def _env_prefix(plugin: str) -> str:
    return _ENV_SETTING_PREFIX + plugin.upper().replace("-", "_").replace(".", "_") + "_"


def settings_for(
    name: str,
    given: Mapping[str, Mapping[str, object]] | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A plugin's settings: ``EEMW_PLUGIN_<NAME>_<KEY>`` variables, overridden by ``given``.

    Numbers and booleans given in code are accepted and turned into their text form
    (``True`` -> ``"true"``); any other non-string value is a :class:`PluginSettingError`.
    """
    env = os.environ if environ is None else environ
    prefix = _env_prefix(name)
    settings = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    own = (given or {}).get(name) or {}
    if not isinstance(own, Mapping):
        raise PluginSettingError(
            f"plugin_settings[{name!r}] must be a mapping of setting names to strings, "
            f"not {type(own).__name__}",
            plugin=name,
        )
    for key, value in own.items():
        settings[str(key)] = _setting_text(name, str(key), value)
    return settings


def _setting_text(plugin: str, key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise PluginSettingError(
        f"plugin {plugin!r}: setting {key!r} must be a string (or a number or boolean), "
        f"not {type(value).__name__}",
        plugin=plugin, setting=key,
    )


def plugin_entries(
    plugins: Sequence[str] | None,
    plugin_settings: Mapping[str, Mapping[str, object]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Entry]:
    """Load the named plugins and return their stack entries, in the order named.

    Only the named plugins are imported. Raises :class:`~eemw.PluginError` for an unknown
    name, a name two distributions provide, a plugin that fails to import, a factory that
    raises or returns anything but an :class:`~eemw.Entry`, settings for a plugin
    that is not enabled, and (as :class:`PluginSettingError`) a bad setting.
    """
    names = enabled_names(plugins, environ)
    if plugin_settings is not None and not isinstance(plugin_settings, Mapping):
        raise PluginError(
            "plugin_settings must map plugin names to their settings, e.g. "
            "{'ratelimit': {'qps': '50'}}"
        )
    stray = sorted(set(plugin_settings or {}) - set(names))
    if stray:
        raise PluginError(
            f"settings given for plugins that are not enabled: {stray}; enabled: {names}. "
            "Name them in plugins=[...] (or EEMW_PLUGINS) too",
            plugin=stray[0],
        )
    if not names:
        return []
    from importlib import metadata

    available: dict[str, list[metadata.EntryPoint]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        available.setdefault(ep.name, []).append(ep)
    return [
        _load(name, _find(name, available), settings_for(name, plugin_settings, environ))
        for name in names
    ]


def _find(name: str, available: Mapping[str, list[metadata.EntryPoint]]) -> metadata.EntryPoint:
    found = available.get(name, [])
    if len(found) == 1:
        return found[0]
    if found:
        providers = ", ".join(f"{i.distribution} {i.version}" for i in map(_info, found))
        raise PluginError(
            f"plugin {name!r} is provided by more than one installed distribution "
            f"({providers}); uninstall all but one",
            plugin=name,
        )
    installed = [_info(ep) for eps in available.values() for ep in eps]
    listing = ", ".join(str(p) for p in sorted(installed, key=lambda p: p.name))
    import difflib  # only on this error path

    close = difflib.get_close_matches(name, list(available), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise PluginError(
        f"unknown plugin {name!r}; {hint}installed plugins: {listing or 'none'} "
        f"(entry-point group {ENTRY_POINT_GROUP!r})",
        plugin=name,
    )


def _load(name: str, ep: metadata.EntryPoint, settings: dict[str, str]) -> Entry:
    dist = _info(ep).distribution
    where = f"plugin {name!r} (from {dist})"
    try:
        factory = ep.load()
    except Exception as exc:
        raise PluginError(
            f"{where} failed to import {ep.value}: {type(exc).__name__}: {exc}",
            plugin=name, distribution=dist,
        ) from exc
    try:
        entry = factory(settings)
    except PluginError as exc:
        # The factory's own error already says what is wrong; say where it came from.
        exc.plugin = exc.plugin or name
        exc.distribution = exc.distribution or dist
        raise
    except Exception as exc:
        raise PluginError(
            f"{where} could not be created: {type(exc).__name__}: {exc}",
            plugin=name, distribution=dist,
        ) from exc
    if not isinstance(entry, Entry):
        raise PluginError(
            f"{where}: its factory {ep.value} must return an eemw.Entry, "
            f"not {type(entry).__name__}",
            plugin=name, distribution=dist,
        )
    if not callable(entry.middleware):
        raise PluginError(
            f"{where}: the middleware of stage {entry.name!r} is not callable",
            plugin=name, distribution=dist,
        )
    return dataclasses.replace(entry, plugin=dist)


class PluginSettingError(PluginError):
    """A plugin setting is unknown or has a value the plugin cannot use.

    ``setting`` is the setting's name (the key in ``plugin_settings``, the lower-cased
    ``<KEY>`` of ``EEMW_PLUGIN_<NAME>_<KEY>``).
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        distribution: str | None = None,
        setting: str | None = None,
    ) -> None:
        super().__init__(message, plugin=plugin, distribution=distribution)
        self.setting = setting
