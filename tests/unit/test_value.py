"""``@frozen`` value classes behave, for users and for :mod:`dataclasses`, exactly as
``@dataclass(frozen=True, slots=True)`` ones do."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

import eemw
from eemw._config import EnvVar
from eemw._rpc import RPC_CODES
from eemw._value import frozen
from eemw.middleware import Decision, RetryState


@dataclass(frozen=True, slots=True)
class Reference:
    """A value."""

    name: str
    size: int = 0
    tags: frozenset[str] = field(default=frozenset({"a"}))
    note: str = field(default="", compare=False, repr=False)


@frozen
class Value:
    """A value."""

    name: str
    size: int = 0
    tags: frozenset[str] = field(default=frozenset({"a"}))
    note: str = field(default="", compare=False, repr=False)

    def __init__(
        self, name: str, size: int = 0, tags: frozenset[str] = frozenset({"a"}), note: str = ""
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "note", note)


def both(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    return Reference(*args, **kwargs), Value(*args, **kwargs)


def test_repr_equality_and_hash_are_the_dataclass_ones() -> None:
    ref, value = both("x", 2, note="hidden")
    assert repr(value) == repr(ref).replace("Reference", "Value")
    assert hash(value) == hash(ref)
    assert value == Value("x", 2, note="other")  # a compare=False field is left out
    assert value != Value("x", 3)
    assert value.__eq__(ref) is NotImplemented


def test_dataclasses_sees_the_same_fields_defaults_and_flags() -> None:
    def shape(cls: type) -> list[tuple[object, ...]]:
        return [(f.name, f.default, f.compare, f.repr, f.init) for f in dataclasses.fields(cls)]

    assert shape(Value) == shape(Reference)
    assert Value.__match_args__ == Reference.__match_args__
    assert Value.__slots__ == Reference.__slots__  # type: ignore[attr-defined]
    params = Value.__dataclass_params__  # type: ignore[attr-defined]
    assert (params.init, params.repr, params.eq, params.frozen, params.order) == (
        True, True, True, True, False
    )
    ref, value = both("x", 2)
    assert dataclasses.asdict(value) == dataclasses.asdict(ref)
    assert dataclasses.replace(value, size=5) == Value("x", 5)
    assert dataclasses.is_dataclass(Value)


def test_assignment_and_deletion_raise_frozen_instance_error() -> None:
    for obj in both("x"):
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
            obj.name = "y"
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'size'"):
            del obj.size


def test_pickles_and_copies_as_the_dataclass_does() -> None:
    ref, value = both("x", 2, note="n")
    assert value.__getstate__() == ref.__getstate__()
    for obj in (value, copy.copy(value), copy.deepcopy(value)):
        back = pickle.loads(pickle.dumps(obj))
        assert back == value and back.note == "n"


def test_dataclass_subclasses_keep_the_frozen_rules() -> None:
    @dataclass(frozen=True)
    class Sized(Value):
        unit: str = "B"

    assert repr(Sized("x", 2)) == "test_dataclass_subclasses_keep_the_frozen_rules.<locals>." \
        "Sized(name='x', size=2, tags=frozenset({'a'}), unit='B')"
    with pytest.raises(TypeError, match="non-frozen dataclass from a frozen one"):
        @dataclass
        class Loose(Value):  # type: ignore[misc]
            pass


def test_a_frozen_class_must_write_its_own_init() -> None:
    with pytest.raises(TypeError, match="must define its own __init__"):
        @frozen
        class NoInit:
            name: str


PUBLIC = [
    eemw.OperationName("demo", "op-1"),
    eemw.DeleteResult("projects/demo/operations/op-1", reconciled=True),
    eemw.CancelResult("projects/demo/operations/op-1", "error", eemw.UsageError("bad")),
    eemw.WaitResult("projects/demo/operations/op-1", None),
    eemw.RetryPolicy(max_attempts=2, retry_statuses=frozenset({503})),
    RetryState(3),
    Decision(False, reason="attempts", retry_after=2.5),
    EnvVar("EEMW_X", "a variable", "google-auth"),
    eemw.PluginInfo("audit", "eemw-audit", "0.1.0", "eemw_audit:factory"),
    RPC_CODES["NOT_FOUND"],
    eemw.Status(3, "bad"),
    eemw.OperationStage("Create Local Files", None, 1, 2),
    eemw.Notification("WARNING", "quota", "slow"),
    eemw.Call("get", "demo", "v1", "projects/demo/operations/op-1"),
]

# Every @frozen class: its own __init__ takes exactly its fields, with their defaults.
FROZEN = [
    eemw.Operation, eemw.OperationMetadata, eemw.Status, eemw.OperationStage,
    eemw.Notification, eemw.Call, eemw.Request, eemw.Response, eemw.Entry,
    eemw.RetryPolicy, RetryState, Decision, type(RPC_CODES["NOT_FOUND"]), EnvVar,
    eemw.DeleteResult, eemw.OperationName, eemw.PluginInfo, eemw.CancelResult, eemw.WaitResult,
]


@pytest.mark.parametrize("cls", FROZEN, ids=lambda c: c.__name__)
def test_the_written_init_takes_the_fields_with_their_defaults(cls: type) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in params] == [f.name for f in fields]
    for param, declared in zip(params, fields, strict=True):
        if declared.default is not dataclasses.MISSING:
            expected = declared.default
        elif declared.default_factory is not dataclasses.MISSING:
            expected = declared.default_factory()
        else:
            expected = inspect.Parameter.empty
        assert param.default == expected, declared.name


@pytest.mark.parametrize("value", PUBLIC, ids=lambda v: type(v).__name__)
def test_public_values_are_frozen_dataclasses(value: Any) -> None:
    assert dataclasses.is_dataclass(type(value))
    first = dataclasses.fields(value)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, first, None)
    same = dataclasses.replace(value)
    assert same == value and same is not value
    if type(value).__hash__ is not None and not isinstance(value, eemw.CancelResult):
        assert hash(same) == hash(value)
    shown = ", ".join(f"{f.name}={getattr(value, f.name)!r}" for f in dataclasses.fields(value))
    assert repr(value) == f"{type(value).__qualname__}({shown})"
    if not isinstance(value, eemw.CancelResult):  # an exception is equal only to itself
        assert pickle.loads(pickle.dumps(value)) == value


def test_checks_still_run_on_construction_and_replace() -> None:
    with pytest.raises(eemw.UsageError):
        eemw.RetryPolicy(max_attempts=0)
    with pytest.raises(eemw.InvalidNameError):
        dataclasses.replace(eemw.OperationName("demo", "op-1"), id="a/b")
    with pytest.raises(eemw.StackError):
        eemw.Entry("", lambda request, call_next: call_next(request), "call")
    # RetryPolicy stores any iterable of statuses as a frozenset, as before.
    assert eemw.RetryPolicy(retry_statuses=[503]).retry_statuses == frozenset({503})  # type: ignore[arg-type]
