"""The official earthengine-api client against the emulator, in every API version.

What ee users call for tasks (Task.list, getTaskList, getTaskStatus, cancelTask) must work
on the emulator's wire format exactly as on Earth Engine's; these tests run ee's own parsing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from eemw.emulator import Emulator, Fault

ee = pytest.importorskip("ee")

VERSIONS = ("v1", "v1beta", "v1alpha")


def task_id(name: str) -> str:
    return name.rsplit("/", 1)[1]


def initialize(emu: Emulator) -> None:
    ee.Initialize(emu.credentials(), url=emu.url, project="demo")


@pytest.fixture(params=VERSIONS)
def version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # ee reads EE_CLOUD_API_VERSION once, at import, into this module constant.
    monkeypatch.setattr(ee._cloud_api_utils, "VERSION", request.param)
    yield request.param
    ee.Reset()


@pytest.fixture
def emu(version: str) -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def deprecated(call: object, *args: object) -> object:
    """ee's task calls are deprecated (they warn) but still widely used."""
    assert callable(call)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return call(*args)


def test_initialize_reads_discovery_and_a_non_empty_algorithm_list_once(
    emu: Emulator, version: str
) -> None:
    initialize(emu)
    ee.Number(1).add(2)  # builds from the canned algorithms: no request
    ee.Image(1)
    paths = [r.path for r in emu.requests if r.path != "/token"]
    assert [p for p in paths if "algorithms" in p] == [
        f"/{version}/projects/demo/algorithms?prettyPrint=false&alt=json"
    ]
    assert all(p.startswith(("/$discovery/rest?version=" + version, f"/{version}/")) for p in paths)


def test_task_list_and_get_task_list_newest_first(emu: Emulator, version: str) -> None:
    running = emu.add_operation("demo", state="RUNNING", description="older")
    emu.advance(1.5)
    pending = emu.add_operation("demo", state="PENDING", description="newer")
    done = emu.add_operation(
        "demo", state="SUCCEEDED", create_time=emu.now_datetime.replace(year=2025)
    )
    initialize(emu)
    tasks = ee.batch.Task.list()
    assert [t.id for t in tasks] == [task_id(pending), task_id(running), task_id(done)]
    assert [t.state for t in tasks] == ["READY", "RUNNING", "COMPLETED"]
    listed = deprecated(ee.data.getTaskList)
    assert isinstance(listed, list)
    assert [t["id"] for t in listed] == [t.id for t in tasks]
    first = listed[0]
    assert first["description"] == "newer" and first["task_type"] == "EXPORT_IMAGE"
    # The timestamps parsed with %f: exact to the millisecond on the emulator clock.
    epoch_ms = int(emu.epoch.timestamp() * 1000)
    assert first["creation_timestamp_ms"] == epoch_ms + 1500


def test_get_task_status_and_cancel_task(emu: Emulator, version: str) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=600)
    initialize(emu)
    (status,) = deprecated(ee.data.getTaskStatus, task_id(name))  # type: ignore[misc]
    assert status["state"] == "RUNNING" and status["name"] == name
    (unknown,) = deprecated(ee.data.getTaskStatus, "NO_SUCH_TASK")  # type: ignore[misc]
    assert unknown["state"] == "UNKNOWN"

    deprecated(ee.data.cancelTask, task_id(name))
    (status,) = deprecated(ee.data.getTaskStatus, task_id(name))  # type: ignore[misc]
    assert status["state"] == "CANCEL_REQUESTED"  # cancel is asynchronous
    emu.advance(2)
    (status,) = deprecated(ee.data.getTaskStatus, task_id(name))  # type: ignore[misc]
    assert status["state"] == "CANCELLED" and status["error_message"] == "Cancelled."
    with pytest.raises(ee.EEException, match="already done"):
        deprecated(ee.data.cancelTask, task_id(name))
    assert emu.cancel_effects(name) == 1
    paths = [r.path for r in emu.requests if ":cancel" in r.path]
    assert paths and all(p.startswith(f"/{version}/{name}:cancel") for p in paths)


def test_value_compute_answers_what_the_test_sets(emu: Emulator) -> None:
    initialize(emu)
    assert ee.Number(1).add(2).getInfo() is None  # the default: {"result": null}
    seen: list[bytes] = []

    def compute(request: object) -> dict[str, object]:
        seen.append(request.body)  # type: ignore[attr-defined]
        return {"result": 3}

    emu.set_answer("earthengine.projects.value.compute", compute)
    assert ee.Number(1).add(2).getInfo() == 3
    assert b"Number.add" in seen[0]  # ee's serialized expression reached the emulator
    emu.set_answer("earthengine.projects.value.compute", (400, {"error": {
        "code": 400, "message": "Number.add: bad operand.", "status": "INVALID_ARGUMENT"}}))
    with pytest.raises(ee.EEException, match="bad operand"):
        ee.Number(1).add(2).getInfo()


def test_an_export_creates_a_task_of_its_type(emu: Emulator) -> None:
    initialize(emu)
    task = ee.batch.Export.image.toDrive(ee.Image(1), description="ndvi")
    task.start()
    op = emu.operation(f"projects/demo/operations/{task.id}")
    assert op is not None
    assert (op["metadata"]["type"], op["metadata"]["description"]) == ("EXPORT_IMAGE", "ndvi")
    assert [t.id for t in ee.batch.Task.list()] == [task.id]
    assert emu.stats["exports_started"] == 1


def test_faults_apply_to_ee_traffic(emu: Emulator) -> None:
    initialize(emu)
    ee.data.setMaxRetries(0)  # ee's own retries would sleep for real
    emu.set_answer("earthengine.projects.value.compute", {"result": 2})
    emu.add_fault(Fault(status=503, path_contains="value:compute"))
    with pytest.raises(ee.EEException, match="unavailable"):
        ee.Number(1).add(1).getInfo()
    assert ee.Number(1).add(1).getInfo() == 2
    assert emu.stats["faults_injected"] == {"status": 1}
    assert emu.stats["methods"]["earthengine.projects.value.compute"] == 1  # the fault ate one


def test_nanosecond_timestamps_break_ee_which_is_why_they_are_opt_in() -> None:
    with Emulator(hostile_timestamps=True, seed_operations=4, realtime=True) as emu:
        initialize(emu)
        try:
            with pytest.raises(ValueError, match="does not match format"):
                deprecated(ee.data.getTaskList)
        finally:
            ee.Reset()
