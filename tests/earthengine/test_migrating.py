"""docs/migrating.md's equivalences hold: ee alone and eemw, against one emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import eemw
from eemw.emulator import Emulator

ee = pytest.importorskip("ee")

TASK_STATES = {"READY": "PENDING", "RUNNING": "RUNNING", "CANCEL_REQUESTED": "CANCELLING",
               "COMPLETED": "SUCCEEDED", "CANCELLED": "CANCELLED", "FAILED": "FAILED"}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def client(emu: Emulator) -> Iterator[eemw.Client]:
    ee.Initialize(emu.credentials(), url=emu.url, project="demo")
    with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
        yield client
    ee.Reset()


@pytest.mark.filterwarnings("ignore:getTaskStatus:DeprecationWarning")
def test_get_and_task_status_read_the_same_operation(
    emu: Emulator, client: eemw.Client
) -> None:
    for state in ("PENDING", "RUNNING", "SUCCEEDED", "FAILED"):
        name = emu.add_operation("demo", state=state)
        op = client.operations.get(name)
        assert dict(op.raw) == ee.data.getOperation(name)
        (status,) = ee.data.getTaskStatus(op.id)
        assert TASK_STATES[status["state"]] == op.state.value == state
        assert client.operations.get(op.id) == op


def test_list_sees_what_ee_lists(emu: Emulator, client: eemw.Client) -> None:
    for state in ("PENDING", "RUNNING", "SUCCEEDED"):
        emu.add_operation("demo", state=state)
    names = [op.name for op in client.operations.list()]
    assert names == [op["name"] for op in ee.data.listOperations()]
    assert sorted(names) == sorted(t.operation_name for t in ee.batch.Task.list())


def test_cancel_does_what_task_cancel_does(emu: Emulator, client: eemw.Client) -> None:
    by_ee, by_eemw = (emu.add_operation("demo", state="RUNNING") for _ in range(2))
    ee.data.cancelOperation(by_ee)
    client.operations.cancel(by_eemw)
    assert client.operations.get(by_ee).state == client.operations.get(by_eemw).state
    assert emu.cancel_effects(by_ee) == emu.cancel_effects(by_eemw) == 1


def test_errors_are_typed_where_ee_raises_one_exception(client: eemw.Client) -> None:
    missing = "projects/demo/operations/MISSING"
    with pytest.raises(ee.EEException) as by_ee:
        ee.data.getOperation(missing)
    with pytest.raises(eemw.NotFoundError) as by_eemw:
        client.operations.get(missing)
    assert by_eemw.value.message == str(by_ee.value)
