"""The public names: one list, lazily loaded, visible to type checkers; moved names warn."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import eemw
import eemw.errors
import eemw.keys
import eemw.middleware

INIT = Path(eemw.__file__)


def type_checking_imports() -> dict[str, str]:
    """Each name the TYPE_CHECKING block imports, and the module it names."""
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If)
                 and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING")
    found: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom)
        for alias in node.names:
            assert alias.asname == alias.name, f"{alias.name} must be re-exported as itself"
            found[alias.name] = "." * node.level + (node.module or "")
    return found


def test_the_type_checking_view_is_the_one_list() -> None:
    listed = {name: module or "." for module, names in eemw._EXPORTS.items() for name in names}
    assert type_checking_imports() == listed
    assert eemw.__all__ == sorted(listed)


@pytest.mark.parametrize("name", eemw.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(eemw, name) is not None
    assert name in dir(eemw)


def test_import_eemw_loads_no_client_machinery() -> None:
    code = ("import sys, eemw; eemw.Operation; "
            "print(sorted(m for m in sys.modules if m.startswith('eemw.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "eemw._client" not in out
    assert "eemw.middleware" not in out


MOVED = {
    "Stage": eemw.OperationStage,
    "CancelledError": eemw.RequestCancelledError,
    "RPC_CODES": eemw.errors.RPC_CODES,
    "CLOCK": eemw.keys.CLOCK,
    "SLEEP": eemw.keys.SLEEP,
    "ATTEMPT": eemw.keys.ATTEMPT,
    "DEADLINE": eemw.keys.DEADLINE,
    "IDEMPOTENCY_KEY": eemw.keys.IDEMPOTENCY_KEY,
    "TRACE_ATTRIBUTES": eemw.keys.TRACE_ATTRIBUTES,
    "CALLER_IDENTITY": eemw.keys.CALLER_IDENTITY,
    "RETRY_POLICY": eemw.keys.RETRY_POLICY,
    "Auth": eemw.middleware.Auth,
    "Retry": eemw.middleware.Retry,
    "Tracing": eemw.middleware.Tracing,
    "Idempotency": eemw.middleware.Idempotency,
    "Check": eemw.middleware.Check,
    "Decision": eemw.middleware.Decision,
    "RetryState": eemw.middleware.RetryState,
}


@pytest.mark.parametrize(("old", "new"), MOVED.items(), ids=list(MOVED))
def test_an_old_name_still_works_and_warns_where_it_went(old: str, new: object) -> None:
    with pytest.warns(DeprecationWarning, match=f"eemw.{old} is deprecated") as caught:
        assert getattr(eemw, old) is new
    assert caught[0].filename == __file__  # the warning points at the user's line
    assert old not in eemw.__all__


def test_from_import_of_an_old_name_warns() -> None:
    with pytest.warns(DeprecationWarning, match="eemw.keys.CLOCK"):
        from eemw import CLOCK  # noqa: F401


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        eemw.Nope  # noqa: B018


def test_a_star_import_shadows_nothing_of_asyncio() -> None:
    import asyncio

    namespace: dict[str, object] = {}
    exec("from asyncio import CancelledError\nfrom eemw import *", namespace)
    assert namespace["CancelledError"] is asyncio.CancelledError
    assert "Stage" not in namespace  # an operation's progress stage is OperationStage


def test_errors_module_holds_every_error_eemw_raises() -> None:
    flat = {name for name in eemw.__all__ if inspect.isclass(getattr(eemw, name))
            and issubclass(getattr(eemw, name), eemw.EemwError)}
    assert flat <= set(eemw.errors.__all__)
    for name in eemw.errors.__all__:
        value = getattr(eemw.errors, name)
        assert not inspect.isclass(value) or issubclass(value, eemw.EemwError) or \
            name == "RpcCode"


def test_keys_module_holds_context_keys_only() -> None:
    assert eemw.keys.__all__
    for name in eemw.keys.__all__:
        assert isinstance(getattr(eemw.keys, name), eemw.ContextKey)


def test_retry_decisions_come_with_the_function_that_makes_them() -> None:
    state, decision = eemw.middleware.decide(
        eemw.RetryPolicy(), eemw.middleware.RetryState(),
        eemw.ConnectError("refused"),
        call=eemw.Call("get", "demo", "v1", "projects/demo/operations/x"),
        has_key=False, time_left=10.0, jitter=0.5,
    )
    assert isinstance(decision, eemw.middleware.Decision)
    assert decision.retry and state.attempts == 1
