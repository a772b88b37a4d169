"""wait_many through list pages, against the emulator over 127.0.0.1 on its own clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import eemw
from eemw.emulator import Emulator, Fault

ClientFactory = Callable[..., eemw.Client]


def api_paths(emu: Emulator) -> list[str]:
    return [r.path for r in emu.requests if not r.path.startswith("/token")]


def list_requests(emu: Emulator) -> int:
    return sum("/operations?" in p for p in api_paths(emu))


def get_requests(emu: Emulator) -> int:
    return sum("/operations/" in p and "?" not in p for p in api_paths(emu))


def final_state(emu: Emulator, name: str) -> str:
    wire = emu.operation(name)
    assert wire is not None
    return str(wire["metadata"]["state"])


def add_many(emu: Emulator, count: int) -> list[str]:
    """``count`` operations ending at different times, one in seven failing."""
    return [
        emu.add_operation(
            "demo", state="RUNNING", start_after=0.0, duration=5.0 + (i % 97) * 3.0,
            fail_at_end=i % 7 == 0,
        )
        for i in range(count)
    ]


def test_thousands_finish_at_different_times_for_pages_not_gets(
    emu: Emulator, make_client: ClientFactory
) -> None:
    names = add_many(emu, 2000)
    updates: list[eemw.Operation] = []
    client = make_client()
    results = client.operations.wait_many(
        names, timeout=3600, poll_interval=20, max_poll_interval=20, on_update=updates.append
    )
    assert [r.name for r in results] == names
    assert all(r.done and r.error is None for r in results)
    for result in results:
        assert result.operation is not None
        assert result.operation.state.value == final_state(emu, result.name)
    # The operations finish over ~300 s: about 15 rounds of 20 s. Polling each operation
    # would send a get per unfinished operation per round (tens of thousands); pages of
    # 1,000 cost a few requests a round.
    rounds = emu.now / 20 + 1
    assert list_requests(emu) + get_requests(emu) <= rounds * 3
    assert len(api_paths(emu)) < len(names) / 10
    # on_update fires per change: the last update of each operation is its final state.
    last = {op.name: op for op in updates}
    assert set(last) == set(names)
    assert all(op.done for op in last.values())


def test_a_failing_page_falls_back_to_get_for_that_round(
    emu: Emulator, make_client: ClientFactory
) -> None:
    names = add_many(emu, 30)
    # The first page fails on both attempts the retry stage makes; then gets take over.
    emu.add_fault(Fault(status=503, times=2))
    client = make_client(retry=eemw.RetryPolicy(max_attempts=2, initial_backoff=0.001,
                                                 max_backoff=0.002))
    results = client.operations.wait_many(names, timeout=3600, poll_interval=5)
    first_round = api_paths(emu)[: 2 + len(names)]
    assert sum("/operations/" in p for p in first_round) == len(names)
    assert all(r.done and r.error is None for r in results)
    for result in results:
        assert result.operation is not None
        assert result.operation.state.value == final_state(emu, result.name)
    # Later rounds are pages again.
    assert list_requests(emu) > 2


def test_no_state_is_reported_that_no_response_carried(
    emu: Emulator, make_client: ClientFactory
) -> None:
    names = add_many(emu, 5)
    emu.add_fault(Fault(status=503, times=None))
    updates: list[eemw.Operation] = []
    client = make_client(retry=eemw.RetryPolicy(max_attempts=1))
    results = client.operations.wait_many(names, timeout=20, poll_interval=5,
                                          on_update=updates.append)
    assert updates == []
    assert all(r.operation is None and not r.done for r in results)
    assert all(isinstance(r.error, eemw.UnavailableError) for r in results)


def test_an_operation_deleted_between_sweeps_is_settled_by_its_get(
    emu: Emulator, make_client: ClientFactory
) -> None:
    names = add_many(emu, 10)
    gone = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=10_000.0)
    admin = make_client()

    def between_rounds(now: float) -> None:
        if now >= 10 and emu.operation(gone) is not None:
            admin.operations.delete(gone)

    client = make_client(on_sleep=between_rounds)
    results = client.operations.wait_many([*names, gone], timeout=3600, poll_interval=5)
    by_name = {r.name: r for r in results}
    assert all(by_name[n].done for n in names)
    deleted = by_name[gone]
    assert isinstance(deleted.error, eemw.NotFoundError)
    assert deleted.operation is not None  # the last state seen before it went
    assert deleted.operation.state is eemw.State.RUNNING
    assert not deleted.done
    # Settled by one get: the wait ended when the others did, not at its timeout.
    assert emu.now < 3600
    gets = [r for r in emu.requests if r.method == "GET" and r.path.endswith(gone[-24:])]
    assert len(gets) == 1


def test_a_wait_outlives_a_token_refresh(emu: Emulator, make_client: ClientFactory) -> None:
    names = add_many(emu, 50)

    def between_rounds(now: float) -> None:
        if 20 <= now < 25:
            emu.expire_tokens()

    client = make_client(on_sleep=between_rounds)
    results = client.operations.wait_many(names, timeout=3600, poll_interval=5,
                                          max_poll_interval=5)
    assert all(r.done and r.error is None for r in results)
    assert emu.stats["tokens_issued"] >= 2
    assert emu.stats["unauthenticated"] >= 1


def _slow_once(kind: str) -> eemw.Entry:
    """A stage that fails the first call of ``kind`` as a slow request reaching its own
    per-request deadline would."""
    fired: list[bool] = []

    def stage(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        if request.call.kind == kind and not fired:
            fired.append(True)
            raise eemw.DeadlineExceededError("the request took too long", timeout=60.0)
        return call_next(request)

    return eemw.Entry("slow-once", stage, "call")


@pytest.mark.parametrize("kind", ["list", "get"])
def test_one_slow_request_does_not_end_the_whole_wait(
    emu: Emulator, make_client: ClientFactory, kind: str
) -> None:
    many = add_many(emu, 3)
    names = many if kind == "list" else many[:1]  # one operation is asked for with get
    client = make_client(middleware=[_slow_once(kind)])
    results = client.operations.wait_many(names, timeout=600, poll_interval=5)
    assert all(r.done and r.error is None for r in results)
    assert emu.now < 600


def test_operations_of_another_project_are_asked_for_one_by_one(
    emu: Emulator, make_client: ClientFactory
) -> None:
    local = add_many(emu, 20)
    other = emu.add_operation("elsewhere", state="RUNNING", start_after=0.0, duration=12.0)
    client = make_client()
    results = client.operations.wait_many([*local, other], timeout=3600, poll_interval=5)
    assert all(r.done for r in results)
    paths = api_paths(emu)
    assert not any("projects/elsewhere/operations?" in p for p in paths)
    assert any(p.endswith(other.split("/", 1)[1]) for p in paths)
