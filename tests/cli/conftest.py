"""Fixtures for the CLI tests: they run the real ``eemw`` console script as a subprocess.

The emulator runs in the test process (a real HTTP server on 127.0.0.1) with its clock
frozen, so operations only change when a test says so; the command reaches it through
``--endpoint`` and a credentials file written from the emulator's own auth.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eemw.emulator import Emulator

_helpers = sys.modules["clitools"]  # loaded by tests/conftest.py
EEMW, TIMEOUT, Result, clean_env = (
    _helpers.EEMW, _helpers.TIMEOUT, _helpers.Result, _helpers.clean_env
)
Run = _helpers.Run


@pytest.fixture(scope="session")
def eemw_script() -> str:
    if EEMW is None:
        pytest.fail("the eemw console script is not installed: pip install -e '.[cli]'")
    return EEMW


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def user_credentials(emu: Emulator, tmp_path: Path) -> Path:
    """An authorized-user JSON file (as gcloud writes) whose refresh token works on ``emu``."""
    path = tmp_path / "user.json"
    path.write_text(json.dumps(emu.authorized_user_info()))
    return path


@pytest.fixture
def run(eemw_script: str) -> Run:
    """Run ``eemw *args``; returns exit code, stdout and stderr."""

    def go(*args: str, env: dict[str, str] | None = None, stdin: str = "") -> Result:
        done = subprocess.run(
            [eemw_script, *args], input=stdin, capture_output=True, text=True,
            env=env or clean_env(), timeout=TIMEOUT, check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return go


@pytest.fixture
def cli(run: Run, emu: Emulator, user_credentials: Path) -> Run:
    """Run ``eemw *args`` against ``emu`` in project ``demo``."""
    connect = ("--endpoint", emu.url, "--credentials", str(user_credentials),
               "--project", "demo")

    def go(*args: str, **kwargs: Any) -> Result:
        return run(*connect, *args, **kwargs)

    return go


