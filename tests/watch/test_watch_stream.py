"""client.operations.watch(): the change stream, against the emulator on its own clock."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable

import pytest

import eemw
from eemw.emulator import Emulator

ClientFactory = Callable[..., eemw.Client]


def states_of(changes: list[eemw.OperationChange], name: str) -> list[str | None]:
    """``before → after`` states of one operation's changes, as a flat list."""
    seen = [c for c in changes if c.name == name]
    return [seen[0].before and seen[0].before.state.value] + [c.after.state.value for c in seen]


def test_named_operations_yield_each_state_change_and_end_when_done(
    emu: Emulator, make_client: ClientFactory
) -> None:
    quick = emu.add_operation("demo", state="PENDING", start_after=3.0, duration=10.0)
    failing = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=30.0,
                                fail_at_end=True)
    client = make_client()
    changes = list(client.operations.watch([quick, failing], poll_interval=2))
    assert states_of(changes, quick) == [None, "PENDING", "RUNNING", "SUCCEEDED"]
    assert states_of(changes, failing) == [None, "RUNNING", "FAILED"]
    for change in changes:
        if change.before is not None:
            assert change.before.state is not change.after.state
    with pytest.raises(dataclasses.FrozenInstanceError):
        changes[0].after = changes[0].after  # type: ignore[misc]


def test_a_project_watch_sees_operations_appear_and_filters_by_state_and_type(
    emu: Emulator, make_client: ClientFactory
) -> None:
    emu.add_operation("demo", state="SUCCEEDED", type="EXPORT_IMAGE")
    added: list[str] = []

    def between_rounds(now: float) -> None:
        if not added:
            added.append(emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE",
                                           start_after=0.0, duration=20.0, fail_at_end=True))
            added.append(emu.add_operation("demo", state="RUNNING", type="INGEST_TABLE",
                                           start_after=0.0, duration=20.0, fail_at_end=True))

    client = make_client(on_sleep=between_rounds)
    watch = client.operations.watch(state="FAILED", type="EXPORT_IMAGE", poll_interval=5,
                                    until=120)
    changes = list(watch)
    assert [c.name for c in changes] == [added[0]]
    assert changes[0].before is not None
    assert changes[0].before.state is eemw.State.RUNNING
    assert changes[0].after.state is eemw.State.FAILED
    # The watch ended at `until`, on the client's clock.
    assert 120 <= emu.now < 130
    # A single type is asked of the server, which filters on it.
    assert all('metadata.type%3D%22EXPORT_IMAGE%22' in r.path
               for r in emu.requests if "/operations?" in r.path)


def test_close_from_another_thread_ends_the_iteration(emu: Emulator) -> None:
    emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=10_000.0)
    started = threading.Event()
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
        watch = client.operations.watch(poll_interval=3600)  # real time: a long sleep

        def consume() -> list[eemw.OperationChange]:
            got = []
            for change in watch:
                got.append(change)
                started.set()
            return got

        result: list[list[eemw.OperationChange]] = []
        thread = threading.Thread(target=lambda: result.append(consume()))
        thread.start()
        assert started.wait(30)
        watch.close()
        thread.join(30)
        assert not thread.is_alive()
    assert len(result[0]) == 1


def test_breaking_out_stops_the_requests(emu: Emulator, make_client: ClientFactory) -> None:
    names = [emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=1e6)
             for _ in range(3)]
    client = make_client()
    with client.operations.watch(names, poll_interval=5) as watch:
        for _ in watch:
            break
    sent = len(emu.requests)
    assert list(watch) == []
    assert len(emu.requests) == sent


@pytest.mark.parametrize("options", [
    {"poll_interval": 0},
    {"poll_interval": "5"},
    {"until": -1},
    {"state": "DANCING"},
    {"filter": "done=false\n"},
    {"names": ["projects/demo/operations/../x"]},
    {"names": "projects/demo/operations/x"},
    {"names": ["projects/demo/operations/x"], "filter": "done=false"},
])
def test_bad_arguments_fail_before_anything_is_sent(
    emu: Emulator, make_client: ClientFactory, options: dict[str, object]
) -> None:
    client = make_client()
    with pytest.raises(eemw.UsageError):
        client.operations.watch(**options)  # type: ignore[arg-type]
    assert emu.requests == []


def test_a_filter_the_server_refuses_is_an_error_for_a_project_watch(
    emu: Emulator, make_client: ClientFactory
) -> None:
    client = make_client()
    with pytest.raises(eemw.InvalidArgumentError):
        next(client.operations.watch(filter="colour=blue"))


def test_a_type_filter_the_server_refuses_is_dropped_and_applied_here(
    emu: Emulator, make_client: ClientFactory
) -> None:
    kept = emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE")
    emu.add_operation("demo", state="RUNNING", type="INGEST_IMAGE")
    refused: list[str] = []

    def no_filters(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
        if "filter=" in request.url:
            refused.append(request.url)
            return eemw.Response(400, eemw.Headers({"Content-Type": "application/json"}),
                                 b'{"error": {"code": 400, "status": "INVALID_ARGUMENT", '
                                 b'"message": "filter is not supported"}}', request)
        return call_next(request)

    client = make_client(middleware=[eemw.Entry("no-filters", no_filters, "attempt",
                                                after="check")])
    watch = client.operations.watch(type="EXPORT_IMAGE", until=1)
    assert [c.name for c in watch] == [kept]
    assert len(refused) == 1


def test_a_project_watch_forgets_an_operation_deleted_between_sweeps(
    emu: Emulator, make_client: ClientFactory
) -> None:
    kept = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=40.0)
    gone = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=1e6)
    admin = make_client()

    def between_rounds(now: float) -> None:
        if emu.operation(gone) is not None:
            admin.operations.delete(gone)

    client = make_client(on_sleep=between_rounds)
    watch = client.operations.watch(poll_interval=10, until=60)
    changes = list(watch)
    first, later = changes[:2], changes[2:]
    assert {(c.name, c.after.state) for c in first} == {
        (kept, eemw.State.RUNNING), (gone, eemw.State.RUNNING),
    }
    assert [(c.name, c.after.state) for c in later] == [(kept, eemw.State.SUCCEEDED)]
    # One get found it gone; later rounds never asked for it again.
    gets = [r for r in emu.requests if r.method == "GET" and r.path.endswith(gone[-24:])]
    assert len(gets) == 1
    assert watch.stats.gets == 1
    assert watch.stats.pages == watch.stats.rounds
