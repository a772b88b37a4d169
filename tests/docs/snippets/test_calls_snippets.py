"""The code of docs/errors.md, docs/testing.md and docs/watching.md, run: each section is
included there."""

from __future__ import annotations

import pytest

import eemw
from eemw.emulator import Emulator, Fault


@pytest.mark.parametrize("eemw_emulator", [{"faults": [Fault(status=503, times=None)]}],
                         indirect=True)
def test_an_error_after_retries_tells_its_history(
    eemw_emulator: Emulator, eemw_client: eemw.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    client, name = eemw_client, eemw_emulator.add_operation("demo", state="RUNNING")
    # --8<-- [start:errors]
    try:
        client.operations.get(name, timeout=30)
    except eemw.UnavailableError as error:
        print(error.attempts, error.gave_up)       # 5 "attempts"
        for earlier in error.history:
            print(type(earlier).__name__)
    except eemw.TimedOutError as error:            # connect, read, deadline, wait
        print(error.last_error)
    # --8<-- [end:errors]
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "5 attempts"   # gave up: the attempts ran out
    assert set(printed[1:]) == {"UnavailableError"}


def test_a_unit_test_on_the_mock() -> None:
    # --8<-- [start:mock]
    from eemw.testing import FakeClock, MockTransport, google_error, operation_json

    mock = MockTransport()
    mock.route("get", "ABC").respond(google_error(503), operation_json("ABC", state="SUCCEEDED"))
    client = eemw.Client("demo", transport=mock, clock=FakeClock())

    assert client.operations.get("ABC").succeeded   # the 503 was retried, on the fake clock
    mock.assert_all_called()
    # --8<-- [end:mock]


# --8<-- [start:fixtures]
@pytest.mark.parametrize("eemw_emulator", [{"faults": [Fault(status=503, times=2)]}],
                         indirect=True)
@pytest.mark.parametrize("eemw_client", [{"api_version": "v1beta"}], indirect=True)
def test_survives_two_503s(eemw_emulator, eemw_client, eemw_clock):
    name = eemw_emulator.add_operation("demo", state="RUNNING")
    assert eemw_client.operations.get(name).name == name
    assert len(eemw_clock.sleeps) == 2
# --8<-- [end:fixtures]


def test_wait_many(
    eemw_emulator: Emulator, eemw_client: eemw.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    client = eemw_client
    names = [eemw_emulator.add_operation("demo", state="RUNNING", start_after=0.0,
                                         duration=60.0 * (i + 1)) for i in range(3)]
    # --8<-- [start:wait-many]
    results = client.operations.wait_many(names, timeout=3600, poll_interval=5,
                                          max_poll_interval=30, on_update=print)
    # --8<-- [end:wait-many]
    assert [r.operation.name for r in results if r.operation] == names
    assert all(r.done and r.error is None for r in results)
    assert capsys.readouterr().out   # on_update saw the operations change


def test_watch(
    eemw_emulator: Emulator, eemw_client: eemw.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    client = eemw_client
    names = [eemw_emulator.add_operation("demo", state="PENDING", start_after=10.0,
                                         duration=60.0) for _ in range(2)]
    # --8<-- [start:watch]
    for change in client.operations.watch(names, poll_interval=5):
        print(change.name, change.before and change.before.state, "->", change.after.state)
    # --8<-- [end:watch]
    lines = capsys.readouterr().out.splitlines()
    assert f"{names[0]} None -> State.PENDING" in lines
    assert any(line.startswith(names[0]) and line.endswith("-> State.SUCCEEDED") for line in lines)
