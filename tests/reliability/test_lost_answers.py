"""Lost answers on the assembled client, against the emulator in its faithful default.

The emulator ignores ``Idempotency-Key`` and cancels asynchronously, as Earth Engine does.
A ``drop_after`` fault applies the request and then drops the connection, so the client
sees a read failure for a change the server made. Each test counts effects as the server
counts them (``cancel_effects``, ``delete_effects``) and proves: a cancel or delete takes
effect at most once and reports success; without an earlier attempt that may have acted,
"already done" and "not found" stay errors.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eemw
from eemw.emulator import Emulator, Fault

POLICY = eemw.RetryPolicy(initial_backoff=0.001, max_backoff=0.002)


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:  # faithful: keys ignored, cancel_delay 2 s
        yield emulator


@pytest.fixture
def instant() -> Iterator[Emulator]:
    # A cancel that completes at once: a re-sent cancel meets "already done".
    with Emulator(cancel_delay=0) as emulator:
        yield emulator


def client_of(emu: Emulator, **options: object) -> eemw.Client:
    return eemw.Client(
        "demo", endpoint=emu.url, credentials=emu.credentials(), retry=POLICY,
        sleep=emu.advance, **options,  # type: ignore[arg-type]
    )


def sent(emu: Emulator, suffix: str = "", method: str | None = None) -> int:
    return sum(
        1 for r in emu.requests
        if r.path.endswith(suffix) and not r.path.startswith("/token")
        and (method is None or r.method == method)
    )


def lose_the_answer(emu: Emulator, method: str, path: str) -> None:
    emu.add_fault(Fault(kind="drop_after", method=method, path_contains=path, times=1))


def test_a_lost_cancel_answer_reconciled_against_already_done(instant: Emulator) -> None:
    name = instant.add_operation("demo", state="RUNNING")
    lose_the_answer(instant, "POST", ":cancel")
    with client_of(instant) as client:
        result = client.operations.cancel(name)
    assert (result.outcome, result.reconciled, result.ok) == ("cancelled", True, True)
    assert instant.cancel_effects(name) == 1  # applied once, by the lost attempt
    assert instant.cancel_executions(name) == 2  # the re-send was refused, not re-applied
    assert sent(instant, name, "GET") == 1  # one look to reconcile


def test_a_lost_cancel_answer_while_cancelling_is_a_plain_success(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    lose_the_answer(emu, "POST", ":cancel")
    with client_of(emu) as client:
        result = client.operations.cancel(name)
        assert client.operations.get(name).state is eemw.State.CANCELLING
    assert (result.outcome, result.reconciled) == ("cancelled", False)
    assert emu.cancel_effects(name) == 1
    assert emu.cancel_executions(name) == 2


def test_a_lost_delete_answer_reconciled_against_not_found(emu: Emulator) -> None:
    name = emu.add_operation("demo", state="SUCCEEDED")
    lose_the_answer(emu, "DELETE", name)
    with client_of(emu) as client:
        result = client.operations.delete(name)
    assert (result.name, result.reconciled) == (name, True)
    assert emu.delete_effects(name) == 1
    assert emu.operation(name) is None


def test_without_a_lost_answer_already_done_and_not_found_stay_errors(emu: Emulator) -> None:
    done = emu.add_operation("demo", state="SUCCEEDED")
    with client_of(emu) as client:
        with pytest.raises(eemw.FailedPreconditionError) as refused:
            client.operations.cancel(done)
        client.operations.delete(done)
        with pytest.raises(eemw.NotFoundError) as missing:
            client.operations.delete(done)
    assert not refused.value.maybe_applied and not missing.value.maybe_applied
    assert refused.value.attempts == missing.value.attempts == 1
    assert sent(emu, done, "GET") == 0  # nothing to reconcile: no look was taken


def test_a_refusal_after_a_lost_answer_stays_an_error_when_not_cancelled(emu: Emulator) -> None:
    # The dropped attempt never ran; the operation had finished on its own.
    name = emu.add_operation("demo", state="SUCCEEDED")
    emu.add_fault(Fault(kind="drop_before", method="POST", path_contains=":cancel", times=1))
    with client_of(emu) as client, pytest.raises(eemw.FailedPreconditionError) as info:
        client.operations.cancel(name)
    assert info.value.maybe_applied and info.value.attempts == 2
    assert isinstance(info.value.history[0], eemw.ReadError)
    assert emu.cancel_effects(name) == 0
    assert sent(emu, name, "GET") == 1


def test_cancel_many_with_every_answer_lost_cancels_each_once(instant: Emulator) -> None:
    names = [instant.add_operation("demo", state="RUNNING") for _ in range(12)]
    for name in names:  # the first answer of every cancel is lost
        lose_the_answer(instant, "POST", name + ":cancel")
    with client_of(instant) as client:
        results = client.operations.cancel_many(names, max_workers=4)
    assert [(r.name, r.outcome) for r in results] == [(n, "cancelled") for n in names]
    assert all(r.reconciled for r in results)
    assert [instant.cancel_effects(n) for n in names] == [1] * len(names)
    assert instant.stats["idempotent_replays"] == 0


def test_an_unsafe_call_is_not_resent_on_the_strength_of_a_generated_key(
    emu: Emulator,
) -> None:
    name = emu.add_operation("demo", state="RUNNING")
    lose_the_answer(emu, "POST", ":cancel")
    # A change that cannot be reconciled, as a create without a request id would be.
    call = eemw.Call("cancel", "demo", "v1", name, repeat="unsafe")
    with client_of(emu) as client, pytest.raises(eemw.ReadError) as info:
        client.send(call, "POST", f"/v1/{name}:cancel")
    assert info.value.maybe_applied and info.value.attempts == 1
    assert emu.cancel_executions(name) == 1


def test_a_client_told_its_server_honours_keys_resends_unsafe_calls() -> None:
    with Emulator(honour_idempotency_keys=True) as emu:
        name = emu.add_operation("demo", state="RUNNING")
        lose_the_answer(emu, "POST", ":cancel")
        call = eemw.Call("cancel", "demo", "v1", name, repeat="unsafe")
        with client_of(emu, server_honours_idempotency_keys=True) as client:
            client.send(call, "POST", f"/v1/{name}:cancel")
        assert emu.cancel_effects(name) == 1
        assert emu.cancel_executions(name) == 1  # the second attempt was replayed
        assert emu.stats["idempotent_replays"] == 1
