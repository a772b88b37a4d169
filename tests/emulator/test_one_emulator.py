"""One emulator: `eemw emulator` and `python -m eemw.emulator` share flags, data and clock."""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

import eemw.emulator
from eemw.cli import build_parser
from eemw.emulator import DEMO_OPERATIONS, Emulator

ROOT = Path(eemw.emulator.__file__).resolve().parents[2]
OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")


def options_in_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> set[str]:
    with pytest.raises(SystemExit):
        if argv[0] == "eemw":
            build_parser().parse_args(argv[1:])
        else:
            eemw.emulator.serve(argv[1:])
    return set(OPTION.findall(capsys.readouterr().out)) - {"--help"}


def test_both_commands_have_one_set_of_flags(capsys: pytest.CaptureFixture[str]) -> None:
    module = options_in_help(["python", "--help"], capsys)
    command = options_in_help(["eemw", "emulator", "--help"], capsys)
    assert module == command
    wanted = {"--frozen-clock", "--honour-idempotency-keys", "--quota-qps", "--cancel-delay"}
    assert wanted <= module


@contextlib.contextmanager
def emulator_process(*flags: str) -> Iterator[str]:
    """`python -m eemw.emulator --port 0 --no-auth FLAGS`; yields its URL, stops it after."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    command = [sys.executable, "-m", "eemw.emulator", "--port", "0", "--no-auth", *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(30), "the emulator printed nothing in time"
        line = process.stdout.readline()
        match = re.fullmatch(r"eemw emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert match, line
        yield match.group(1)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        process.stdout.close()


def operations(url: str, **params: str) -> list[dict[str, Any]]:
    page = requests.get(f"{url}/v1/projects/demo/operations", params=params, timeout=10).json()
    return list(page.get("operations", []))


def by_description(url: str) -> dict[str, dict[str, Any]]:
    return {op["metadata"]["description"]: op for op in operations(url, pageSize="100")}


def test_a_standalone_emulator_runs_on_real_time_with_the_demo_dataset() -> None:
    with Emulator(seed_operations=DEMO_OPERATIONS) as embedded:
        expected = {
            (op or {})["metadata"]["description"]: name
            for name in embedded.operation_names()
            for op in [embedded.operation(name)]
        }
    started = datetime.now(timezone.utc)
    with emulator_process() as url:
        ops = by_description(url)
        # The same dataset under the same ids as the embedded emulator (and --emulator).
        assert {d: op["name"] for d, op in ops.items()} == expected
        created = datetime.fromisoformat(ops["DEM tile 42"]["metadata"]["createTime"])
        assert abs(created - started) < timedelta(minutes=5)  # near wall time, not 2026-01-01
        # A wait on a short task finishes: the clock runs by itself.
        name = ops["DEM tile 42"]["name"]
        waited = requests.post(f"{url}/v1/{name}:wait", json={"timeout": "30s"}, timeout=40)
        assert waited.json()["metadata"]["state"] == "SUCCEEDED"


def test_a_frozen_clock_is_an_explicit_option() -> None:
    with emulator_process("--frozen-clock") as url:
        ops = by_description(url)
        assert ops["DEM tile 42"]["metadata"]["createTime"].startswith("2025-12-31T23:59:55")
        name = ops["DEM tile 42"]["name"]
        waited = requests.post(f"{url}/v1/{name}:wait", json={"timeout": "30s"}, timeout=40)
        assert waited.json()["metadata"]["state"] == "RUNNING"  # answered at once, unchanged


def test_flags_reach_the_emulator() -> None:
    flags = (
        "--frozen-clock", "--cancel-delay", "0", "--honour-idempotency-keys",
        "--hostile-timestamps", "--max-page-size", "3", "--seed-operations", "20",
    )
    with emulator_process(*flags) as url:
        assert len(operations(url, pageSize="100")) == 3
        running = by_description_all(url)["Sentinel-2 median, 2025"]
        cancel = f"{url}/v1/{running}:cancel"
        keyed = {"Idempotency-Key": "k1"}
        assert requests.post(cancel, json={}, headers=keyed, timeout=10).json() == {}
        state = requests.get(f"{url}/v1/{running}", timeout=10).json()["metadata"]["state"]
        assert state == "CANCELLED"  # --cancel-delay 0
        # Replayed, not re-run: a re-run would be 400, the operation being done.
        assert requests.post(cancel, json={}, headers=keyed, timeout=10).status_code == 200
        stamps = [
            value
            for op in all_operations(url)
            for key, value in op["metadata"].items()
            if key.endswith("Time")
        ]
        assert any(re.search(r"\.\d{9}Z$", stamp) for stamp in stamps)


def all_operations(url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    token = ""
    while True:
        params = {"pageToken": token} if token else {}
        page = requests.get(f"{url}/v1/projects/demo/operations", params=params, timeout=10)
        body = page.json()
        found += body.get("operations", [])
        token = body.get("nextPageToken", "")
        if not token:
            return found


def by_description_all(url: str) -> dict[str, str]:
    return {op["metadata"]["description"]: op["name"] for op in all_operations(url)}


@pytest.mark.parametrize(
    "flags",
    [("--quota-qps", "0.5"), ("--quota-concurrent", "0"), ("--cancel-delay", "-1")],
)
def test_bad_flag_values_are_usage_errors(flags: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        eemw.emulator.serve(list(flags))
    assert exit_info.value.code == 2


def test_credentials_files_are_written_for_the_running_emulator(tmp_path: Path) -> None:
    user, robot = tmp_path / "user.json", tmp_path / "sa.json"
    with emulator_process("--credentials-file", str(user), "--service-account-file", str(robot)):
        assert json.loads(user.read_text())["type"] == "authorized_user"
        assert json.loads(robot.read_text())["type"] == "service_account"
        assert user.stat().st_mode & 0o077 == 0 and robot.stat().st_mode & 0o077 == 0
