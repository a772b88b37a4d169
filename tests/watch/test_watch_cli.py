"""``eemw operations watch``: the real console script against the emulator on 127.0.0.1.

The emulator's clock is frozen: operations change only when a test advances it, while
the command polls on real time with a short interval.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clitools import TIMEOUT, clean_env, run_on_tty

from eemw.emulator import Emulator

EEMW = shutil.which("eemw", path=str(Path(sys.executable).parent)) or "eemw"
@pytest.fixture
def argv(emu: Emulator, tmp_path: Path) -> list[str]:
    path = tmp_path / "user.json"
    path.write_text(json.dumps(emu.authorized_user_info()))
    return [EEMW, "--endpoint", emu.url, "--credentials", str(path), "--project", "demo",
            "operations", "watch", "--poll-interval", "0.1"]


def run(argv: list[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    done = subprocess.run([*argv, *args], capture_output=True, text=True, env=clean_env(),
                          timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()], done.stderr


@pytest.fixture
def popen(argv: list[str]) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.parametrize(("states", "code"), [
    (["SUCCEEDED", "SUCCEEDED"], 0), (["SUCCEEDED", "FAILED"], 3), (["FAILED", "CANCELLED"], 1),
])
def test_finished_operations_print_a_line_each_and_exit_as_wait_does(
    emu: Emulator, argv: list[str], states: list[str], code: int
) -> None:
    names = [emu.add_operation("demo", state=s) for s in states]
    rc, records, err = run(argv, *(n.rsplit("/", 1)[1] for n in names))
    assert rc == code, err
    # In the order the pages show them: newest first on the service.
    shown = sorted((r["name"], r["state"]) for r in records)
    assert shown == sorted(zip(names, states, strict=True))
    assert {r["previous_state"] for r in records} == {None}


def test_piped_output_follows_each_change_until_done(
    emu: Emulator, argv: list[str], popen: list[subprocess.Popen[str]]
) -> None:
    name = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=100.0)
    proc = subprocess.Popen([*argv, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env())
    popen.append(proc)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert (first["state"], first["previous_state"]) == ("RUNNING", None)
    emu.advance(1000)
    out, err = proc.communicate(timeout=TIMEOUT)
    last = json.loads(out.splitlines()[-1])
    assert (last["state"], last["previous_state"]) == ("SUCCEEDED", "RUNNING")
    assert proc.returncode == 0, err


def test_ctrl_c_exits_130(
    emu: Emulator, argv: list[str], popen: list[subprocess.Popen[str]]
) -> None:
    name = emu.add_operation("demo", state="RUNNING", start_after=0.0, duration=100.0)
    proc = subprocess.Popen([*argv, name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env())
    popen.append(proc)
    assert proc.stdout is not None
    proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert "Traceback" not in err


def test_a_project_watch_shows_matching_operations_until_its_time_is_up(
    emu: Emulator, argv: list[str]
) -> None:
    failed = emu.add_operation("demo", state="FAILED", type="EXPORT_IMAGE")
    emu.add_operation("demo", state="SUCCEEDED", type="EXPORT_IMAGE")
    emu.add_operation("demo", state="FAILED", type="INGEST_TABLE")
    rc, records, err = run(argv, "--state", "failed", "--type", "export_image", "--until", "0.5",
                           "--json")
    assert [r["name"] for r in records] == [failed]
    assert rc == 0, err  # it failed before the watch began: the watch saw no failure


@pytest.mark.parametrize("args", [["--until", "0"], ["--until", "soon"], ["../x"],
                                  ["--state", "DANCING"]])
def test_bad_arguments_exit_2_and_send_nothing(
    emu: Emulator, argv: list[str], args: list[str]
) -> None:
    rc, records, _ = run(argv, *args)
    assert rc == 2
    assert records == []
    assert [r for r in emu.requests if not r.path.startswith("/token")] == []


def test_the_live_view_on_a_terminal_escapes_what_the_server_sent(
    emu: Emulator, argv: list[str]
) -> None:
    emu.add_operation("demo", state="RUNNING", description="evil\x1b]0;pwned\x07\u202etitle")
    shown = on_terminal([*argv, "--until", "0.5"])
    assert "RUNNING" in shown
    assert "\x1b]0;" not in shown and "\u202e" not in shown
    assert "evil" in shown


def on_terminal(args: list[str]) -> str:
    """Run on a pseudo-terminal; everything it showed."""
    code, shown = run_on_tty(args, b"", clean_env(COLUMNS="120", LINES="20"))
    assert code == 0
    return shown
