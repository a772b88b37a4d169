"""``@frozen``: frozen value classes that cost nothing to define.

``@dataclass(frozen=True, slots=True)`` compiles five or six methods from source text for
every class at every import (about 0.8 ms a class): for a serverless process that starts,
makes one call and exits, that was half of ``import eemw``. A class decorated with
:func:`frozen` is, to :mod:`dataclasses` and to its users, the same as one decorated with
``@dataclass(frozen=True, slots=True)``: ``is_dataclass``, ``fields``, ``replace``,
``asdict``, ``__match_args__`` and the frozen flag that a dataclass subclass is checked
against; the same repr, equality and hash over its fields, the same
:class:`dataclasses.FrozenInstanceError` on assignment, the same pickled state. Its
methods are closures over the class's field names, made without compiling anything.

The class writes its own ``__init__`` (a real signature for readers, ``help()`` and the API
docs), which sets each field with ``object.__setattr__`` and then calls ``__post_init__``
if the class has checks to run, as a dataclass's generated ``__init__`` would.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:
    def dataclass_transform(**_: object) -> Callable[[Any], Any]:
        return lambda decorated: decorated

__all__ = ["frozen"]

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def frozen(cls: type[T]) -> type[T]:
    """``cls`` as ``@dataclass(frozen=True, slots=True)`` would make it, but for
    ``__init__``, which ``cls`` MUST define itself."""
    if "__init__" not in cls.__dict__:
        raise TypeError(f"@frozen class {cls.__qualname__} must define its own __init__")
    own = set(cls.__dict__)
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False, slots=True)(cls)
    fields = dataclasses.fields(made)
    compared = _getter(tuple(f.name for f in fields if f.compare))
    hashed = _getter(tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)))
    shown = tuple(f.name for f in fields if f.repr)
    names = frozenset(f.name for f in fields)

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __setattr__(self: Any, name: str, value: object) -> None:
        if type(self) is made or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(made, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is made or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(made, self).__delattr__(name)

    for method in (__repr__, __eq__, __hash__, __setattr__, __delattr__):
        method.__qualname__ = f"{made.__qualname__}.{method.__name__}"
    # As dataclass does: a method the class wrote itself (a redacting repr) stays.
    if "__repr__" not in own:
        made.__repr__ = recursive_repr()(__repr__)
    if "__eq__" not in own:
        made.__eq__ = __eq__
    if "__hash__" not in own:
        made.__hash__ = __hash__
    made.__setattr__ = __setattr__
    made.__delattr__ = __delattr__
    made.__getstate__ = _getstate
    made.__setstate__ = _setstate
    # What dataclass records for frozen=True: a dataclass subclass is checked against it.
    params = copy.copy(made.__dataclass_params__)
    params.init = params.repr = params.eq = params.frozen = True
    made.__dataclass_params__ = params
    result: type[T] = made
    return result


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values of ``names`` as a tuple, as dataclass compares and hashes them."""
    if len(names) == 1:
        only = names[0]
        return lambda obj: (getattr(obj, only),)
    if not names:
        return lambda obj: ()
    get: Callable[[Any], tuple[Any, ...]] = attrgetter(*names)
    return get


# The state dataclass pickles a frozen slotted instance as: the field values, in order.
def _getstate(self: Any) -> list[Any]:
    return [getattr(self, f.name) for f in dataclasses.fields(self)]


def _setstate(self: Any, state: list[Any]) -> None:
    for field, value in zip(dataclasses.fields(self), state, strict=False):
        object.__setattr__(self, field.name, value)
