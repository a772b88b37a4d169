"""`eemw operations get|list|wait|delete`: output, --json output and exit codes."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

from clitools import PIPE_BYTES, TIMEOUT, Run, api_paths, clean_env, run_into_closing_reader

from eemw.emulator import Emulator, Fault

OPERATION_KEYS = {
    "name", "id", "project", "state", "done", "type", "description", "priority", "progress",
    "attempt", "create_time", "start_time", "update_time", "end_time", "script_uri",
    "destination_uris", "error",
}
WAIT_KEYS = OPERATION_KEYS | {"outcome", "request_error", "request_error_type"}


def seed(emu: Emulator) -> dict[str, str]:
    return {
        "running": emu.add_operation("demo", state="RUNNING", type="EXPORT_IMAGE",
                                     description="Sentinel-2 median"),
        "pending": emu.add_operation("demo", state="PENDING", type="INGEST_IMAGE",
                                     description="DEM tile 42"),
        "failed": emu.add_operation("demo", state="FAILED", type="EXPORT_VIDEO",
                                    description="Timelapse"),
        "done": emu.add_operation("demo", state="SUCCEEDED", type="EXPORT_IMAGE",
                                  description="NDVI composite"),
    }


# -- list ----------------------------------------------------------------------------------


def test_list_prints_a_table_of_every_operation(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "list")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    for name, state, description in (
        (ops["running"], "RUNNING", "Sentinel-2 median"),
        (ops["pending"], "PENDING", "DEM tile 42"),
        (ops["failed"], "FAILED", "Timelapse"),
        (ops["done"], "SUCCEEDED", "NDVI composite"),
    ):
        row = next(line for line in lines if name.rsplit("/", 1)[1] in line)
        assert state in row and description in row
    assert "4 operations" in result.out
    assert "\x1b" not in result.out  # no colour or cursor codes when not on a terminal


def test_list_json_writes_one_object_per_operation_with_stable_keys(
    cli: Run, emu: Emulator
) -> None:
    ops = seed(emu)
    result = cli("operations", "list", "--json")
    assert result.code == 0, result.err
    records = result.records()
    # Newest first by create time, as Earth Engine lists (the two finished ones are older).
    newest_first = [ops["pending"], ops["running"], ops["done"], ops["failed"]]
    assert [r["name"] for r in records] == newest_first
    assert all(set(r) == OPERATION_KEYS for r in records)
    by_name = {r["name"]: r for r in records}
    assert by_name[ops["failed"]]["state"] == "FAILED"
    assert by_name[ops["failed"]]["done"] is True
    assert by_name[ops["failed"]]["error"]["code"] != 0
    assert by_name[ops["running"]]["error"] is None
    assert by_name[ops["running"]]["type"] == "EXPORT_IMAGE"


def test_list_filters_by_state_and_type_on_the_client(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    by_state = cli("operations", "list", "--json", "--state", "running,pending")
    assert {r["name"] for r in by_state.records()} == {ops["running"], ops["pending"]}
    both = cli("operations", "list", "--json", "--state", "RUNNING", "--state", "SUCCEEDED",
               "--type", "EXPORT_IMAGE")
    assert {r["name"] for r in both.records()} == {ops["running"], ops["done"]}


def test_list_type_is_not_case_sensitive(cli: Run, emu: Emulator) -> None:
    ops = seed(emu)
    result = cli("operations", "list", "--json", "--type", "export_image,Ingest_Image")
    assert {r["name"] for r in result.records()} == {ops["running"], ops["pending"], ops["done"]}


def test_list_stops_fetching_pages_once_its_reader_is_gone(
    eemw_script: str, emu: Emulator, user_credentials: Path
) -> None:
    for _ in range(200):
        emu.add_operation("demo", state="RUNNING")
    argv = [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
            "--project", "demo", "operations", "list", "--json", "--page-size", "10"]
    code, first, err = run_into_closing_reader(argv, clean_env())
    assert 200 * len(first) > 2 * PIPE_BYTES
    assert code == 0, err
    assert err == ""
    pages = [p for p in api_paths(emu) if p.startswith("GET /v1/projects/demo/operations")]
    assert len(pages) < 20  # it stopped once nobody read what it wrote


def test_list_limit_stops_fetching_pages(cli: Run, emu: Emulator) -> None:
    for _ in range(5):
        emu.add_operation("demo", state="RUNNING")
    result = cli("operations", "list", "--json", "--limit", "2", "--page-size", "2")
    assert result.code == 0, result.err
    assert len(result.records()) == 2
    assert len([p for p in api_paths(emu) if p.startswith("GET /v1/projects/demo/operations")]) == 1


def test_list_uses_the_chosen_api_version_and_quota_project(cli: Run, emu: Emulator) -> None:
    seed(emu)
    result = cli("operations", "list", "--api-version", "v1beta", "--quota-project", "billing")
    assert result.code == 0, result.err
    api = [r for r in emu.requests if not r.path.startswith("/token")]
    assert api and all(r.path.startswith("/v1beta/projects/demo/operations") for r in api)
    assert all(r.headers.get("X-Goog-User-Project") == "billing" for r in api)


def test_empty_project_says_so(cli: Run) -> None:
    result = cli("operations", "list")
    assert result.code == 0
    assert "0 operations" in result.out
    assert cli("operations", "list", "--json").out == ""


# -- get -----------------------------------------------------------------------------------


def test_get_by_id_shows_the_operation(cli: Run, emu: Emulator) -> None:
    name = seed(emu)["failed"]
    result = cli("operations", "get", name.rsplit("/", 1)[1])
    assert result.code == 0, result.err
    assert name in result.out
    assert re.search(r"state\s+FAILED", result.out)
    assert re.search(r"description\s+Timelapse", result.out)
    assert "error" in result.out


def test_get_json_is_one_object(cli: Run, emu: Emulator) -> None:
    name = seed(emu)["running"]
    [record] = cli("operations", "get", name, "--json").records()
    assert set(record) == OPERATION_KEYS
    assert record["name"] == name
    assert record["state"] == "RUNNING"
    assert record["done"] is False


def test_get_of_a_missing_operation_is_an_api_error(cli: Run) -> None:
    result = cli("operations", "get", "NO_SUCH_TASK")
    assert result.code == 1
    assert result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("eemw: error:")
    assert "NOT_FOUND" in line and "projects/demo/operations/NO_SUCH_TASK" in line


def test_invalid_name_is_a_usage_error_and_sends_nothing(cli: Run, emu: Emulator) -> None:
    result = cli("operations", "get", "projects/demo/../x")
    assert result.code == 2
    assert "invalid operation name" in result.err
    assert "Traceback" not in result.err
    assert emu.requests == []


def test_bad_arguments_are_usage_errors(cli: Run) -> None:
    unknown_option = cli("operations", "list", "--bogus")
    assert unknown_option.code == 2
    assert "usage:" in unknown_option.err
    assert cli("operations", "list", "--limit", "many").code == 2
    negative = cli("operations", "list", "--limit", "-1")
    assert negative.code == 2 and "limit" in negative.err
    assert cli("operations", "list", "--state", "SLEEPING").code == 2
    assert cli("operations", "frobnicate").code == 2
    assert cli("operations", "wait").code == 2  # needs at least one name
    zero = cli("operations", "wait", "X", "--timeout", "0")
    assert zero.code == 2 and "--timeout" in zero.err


def test_no_command_prints_help_and_exits_2(run: Run) -> None:
    result = run()
    assert result.code == 2
    assert "operations" in result.out + result.err


# -- delete --------------------------------------------------------------------------------


def test_delete_removes_the_operation(cli: Run, emu: Emulator) -> None:
    name = seed(emu)["done"]
    result = cli("operations", "delete", name, "--json", "--yes")
    assert result.code == 0, result.err
    assert result.records() == [{"name": name, "outcome": "deleted"}]
    assert emu.operation(name) is None
    again = cli("operations", "delete", name, "--yes")
    assert again.code == 1 and "NOT_FOUND" in again.err


# -- wait ----------------------------------------------------------------------------------


def test_wait_on_finished_operations_exits_0(cli: Run, emu: Emulator) -> None:
    names = [emu.add_operation("demo", state="SUCCEEDED") for _ in range(2)]
    result = cli("operations", "wait", *names, "--json")
    assert result.code == 0, result.err
    assert [(r["name"], r["state"]) for r in result.records()] == [
        (n, "SUCCEEDED") for n in names
    ]


def test_wait_sees_operations_finish(cli: Run, emu: Emulator) -> None:
    name = emu.add_operation("demo", state="RUNNING", duration=30.0)
    emu.advance(31.0)  # finished before the command looks: the first poll sees it done
    result = cli("operations", "wait", name)
    assert result.code == 0, result.err
    assert "SUCCEEDED" in result.out and "1 succeeded" in result.out


def test_wait_on_a_failed_operation_exits_1(cli: Run, emu: Emulator) -> None:
    name = emu.add_operation("demo", state="FAILED")
    result = cli("operations", "wait", name)
    assert result.code == 1
    assert "FAILED" in result.out and "1 failed" in result.out


def test_wait_timeout_with_some_done_is_a_partial_failure(cli: Run, emu: Emulator) -> None:
    done = emu.add_operation("demo", state="SUCCEEDED")
    stuck = emu.add_operation("demo", state="RUNNING")  # the frozen clock never finishes it
    result = cli("operations", "wait", done, stuck, "--timeout", "0.3",
                 "--poll-interval", "0.1", "--json")
    assert result.code == 3
    records = result.records()
    assert all(set(r) == WAIT_KEYS for r in records)
    states = {r["name"]: (r["state"], r["done"], r["outcome"]) for r in records}
    assert states == {done: ("SUCCEEDED", True, "succeeded"),
                      stuck: ("RUNNING", False, "not_done")}
    human = cli("operations", "wait", done, stuck, "--timeout", "0.3", "--poll-interval", "0.1")
    assert human.code == 3
    assert "1 succeeded, 1 not done after 0.3s" in human.out
    row = next(line for line in human.out.splitlines() if stuck.rsplit("/", 1)[1] in line)
    assert "RUNNING" in row and "not done after 0.3s" in row


def test_wait_with_a_missing_operation_among_existing_ones_reports_each(
    cli: Run, emu: Emulator
) -> None:
    done = emu.add_operation("demo", state="SUCCEEDED")
    missing = "projects/demo/operations/NO_SUCH_TASK"
    result = cli("operations", "wait", done, "NO_SUCH_TASK", "--json")
    assert result.code == 3, result.err
    records = {r["name"]: r for r in result.records()}
    assert list(records) == [done, missing]
    assert (records[done]["outcome"], records[done]["request_error"]) == ("succeeded", None)
    gone = records[missing]
    assert (gone["outcome"], gone["request_error_type"]) == ("not_found", "NotFoundError")
    assert (gone["state"], gone["done"], gone["id"]) == (None, None, "NO_SUCH_TASK")
    assert "NOT_FOUND" in gone["request_error"]
    # Not found is final: it was asked for once, not polled until the timeout.
    assert len([p for p in api_paths(emu) if p.endswith("/NO_SUCH_TASK")]) == 1

    human = cli("operations", "wait", done, "NO_SUCH_TASK")
    assert human.code == 3
    assert "1 succeeded, 1 not found" in human.out
    row = next(line for line in human.out.splitlines() if "NO_SUCH_TASK" in line)
    assert "NOT_FOUND" in row


def test_wait_where_every_operation_is_refused_exits_1_with_a_record_each(
    cli: Run, emu: Emulator
) -> None:
    secret = emu.add_operation("demo", state="RUNNING")
    emu.add_fault(Fault(status=403, times=None, path_contains=secret.rsplit("/", 1)[1]))
    result = cli("operations", "wait", secret, "NO_SUCH_TASK", "--json")
    assert result.code == 1
    outcomes = [(r["outcome"], r["request_error_type"]) for r in result.records()]
    # The list page still showed it running (the fault refuses its get only); the refused
    # get settles it as not done, with its error.
    assert outcomes == [("not_done", "PermissionDeniedError"), ("not_found", "NotFoundError")]


def test_ctrl_c_stops_a_wait_and_reports_what_was_seen(
    cli: Run, emu: Emulator, eemw_script: str, user_credentials: object
) -> None:
    stuck = emu.add_operation("demo", state="RUNNING", description="never ends")
    proc = subprocess.Popen(
        [eemw_script, "--endpoint", emu.url, "--credentials", str(user_credentials),
         "--project", "demo", "operations", "wait", stuck, "--timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(),
    )
    assert proc.stderr is not None
    assert "waiting for 1 operation" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert "stopped waiting" in err
