"""``PluginSettings``: a plugin's settings with typed, validated access, for its factory.

Every getter names the plugin, the setting and where it is set when a value is unusable,
and never shows a long value (a setting may hold a secret).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import NoReturn, TypeVar, overload

from ._plugins import PluginSettingError, env_setting

__all__ = ["PluginSettings"]

_Num = TypeVar("_Num", int, float)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_SHOWN_VALUE = 40


class PluginSettings(Mapping[str, str]):
    """A plugin's settings with typed, validated access, for use in its factory.

    Every getter returns the default when the setting is absent and raises
    :class:`PluginSettingError` naming the plugin, the setting and where it can be set
    when the value is unusable. ``known`` lists the settings the plugin accepts: any other
    key is an error at once (a typo must not be silently ignored). Values are shown in
    messages only when short, and never by :meth:`text` or ``repr``, since a setting may
    hold a secret.
    """

    __slots__ = ("_values", "plugin")

    def __init__(
        self, settings: Mapping[str, str], *, plugin: str, known: Iterable[str] | None = None
    ) -> None:
        self.plugin = plugin
        self._values = {str(k): str(v) for k, v in settings.items()}
        if known is not None:
            allowed = sorted(set(known))
            unknown = sorted(set(self._values) - set(allowed))
            if unknown:
                raise self.error(
                    unknown[0], f"is not a setting of this plugin; it accepts {allowed}"
                )

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PluginSettings(plugin={self.plugin!r}, keys={sorted(self._values)!r})"

    def error(self, key: str, problem: str) -> PluginSettingError:
        """An error saying that setting ``key`` ``problem``; the factory raises it."""
        return PluginSettingError(
            f"plugin {self.plugin!r}: setting {key!r} {problem} (set in "
            f"plugin_settings={{{self.plugin!r}: {{{key!r}: ...}}}} or "
            f"{env_setting(self.plugin, key)})",
            plugin=self.plugin, setting=key,
        )

    def _bad(self, key: str, expected: str) -> NoReturn:
        value = self._values[key]
        shown = repr(value) if len(value) <= _SHOWN_VALUE else "a longer value"
        raise self.error(key, f"must be {expected}, not {shown}")

    @overload
    def text(self, key: str, default: str) -> str: ...
    @overload
    def text(self, key: str, default: None = None) -> str | None: ...
    def text(self, key: str, default: str | None = None) -> str | None:
        """The setting as given (surrounding spaces removed), or ``default``."""
        value = self._values.get(key)
        return default if value is None else value.strip()

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> float:
        """A finite number, ``>= minimum``, ``> above`` and ``<= maximum`` when given."""
        value = self._bounded(key, float, "a number", minimum, above, maximum)
        return default if value is None else value

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """A whole number, ``>= minimum`` and ``<= maximum`` when given."""
        value = self._bounded(key, int, "a whole number", minimum, None, maximum)
        return default if value is None else value

    def _bounded(
        self,
        key: str,
        parse: Callable[[str], _Num],
        kind: str,
        minimum: float | None,
        above: float | None,
        maximum: float | None,
    ) -> _Num | None:
        raw = self.text(key)
        if raw is None:
            return None
        expected = _range(kind, minimum, above, maximum)
        try:
            value = parse(raw)
        except ValueError:
            self._bad(key, expected)
        if not (math.isfinite(value) and _within(value, minimum, above, maximum)):
            self._bad(key, expected)
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A boolean: true/false, yes/no, on/off or 1/0 (any case)."""
        raw = self.text(key)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self._bad(key, "true or false")

    def choice(self, key: str, options: Sequence[str], default: str) -> str:
        """One of ``options`` (compared case-insensitively, returned as listed)."""
        raw = self.text(key)
        if raw is None:
            return default
        for option in options:
            if raw.lower() == option.lower():
                return option
        self._bad(key, "one of " + ", ".join(options))


def _range(kind: str, minimum: float | None, above: float | None, maximum: float | None) -> str:
    bounds = [f">= {minimum:g}" if minimum is not None else "",
              f"> {above:g}" if above is not None else "",
              f"<= {maximum:g}" if maximum is not None else ""]
    shown = " and ".join(b for b in bounds if b)
    return f"{kind} {shown}" if shown else kind


def _within(
    value: float, minimum: float | None, above: float | None, maximum: float | None
) -> bool:
    return (
        (minimum is None or value >= minimum)
        and (above is None or value > above)
        and (maximum is None or value <= maximum)
    )
