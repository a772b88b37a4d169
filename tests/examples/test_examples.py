"""Every script in examples/ runs as a user would run it, so none can go stale.

The list is the directory itself: a new example is picked up without touching this file.
Each must exit 0, print what its docstring promises, and say how to run it.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))

# What each known example must print; an example not listed here must still exit 0.
EXPECTED: dict[str, list[str]] = {
    "quickstart.py": ["get:", "cancel: CANCELLING", "finished SUCCEEDED", "NotFoundError"],
    "custom_middleware.py": [
        "attempt-log   attempt", "tag           call", "-> UnavailableError", "-> 200",
        "bearer token present: True", "X-Example-Tag=custom-middleware-example",
    ],
    "bulk_cancel.py": ["12 cancelled", "1 already_done", "1 not_found",
                       "the emulator applied 12 cancels"],
    "tracing_console.py": ["eemw operations.get [INTERNAL]", "http.response.status_code = 503",
                           "http.response.status_code = 200",
                           "http.request.resend_count = 1"],
    "earthengine.py": ["earthengine.projects.value.compute", "getInfo() = 3",
                       "export sent 2 times, 1 task started",
                       "earthengine.projects.assets.get            -> NotFoundError",
                       "ee.EEException: The emulator has no answer"],
    "replace_stages.py": ["__main__.FixedRetry", "team_header  attempt", "attempt 2 got 503",
                          "is RUNNING", "on every attempt: mapping"],
    "use_plugins.py": ["plugin from eemw-ratelimit", "plugin from eemw-audit",
                       "operations.cancel", "operations.delete", "NOT_FOUND"],
}


def test_there_are_examples() -> None:
    assert set(EXPECTED) <= {s.name for s in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_runs(script: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EEMW_")}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env,
        cwd=script.parent.parent, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for text in EXPECTED.get(script.name, []):
        assert text in done.stdout, f"{script.name} did not print {text!r}:\n{done.stdout}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_says_what_it_shows_and_how_to_run_it(script: Path) -> None:
    tree = ast.parse(script.read_text())
    doc = ast.get_docstring(tree)
    assert doc, f"{script.name} has no docstring"
    assert f"python examples/{script.name}" in doc
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    private = sorted(m for m in imported if m.startswith("eemw") and any(
        part.startswith("_") for part in m.split(".")))
    assert not private, f"{script.name} imports private modules: {private}"


def test_the_commands_an_example_names_run_as_written() -> None:
    # ``eemw <command> …`` in a docstring is a promise: run it (off a terminal, as a
    # reader's script would) against a fresh emulator, as --emulator does.
    script = EXAMPLES / "bulk_cancel.py"
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    [command] = re.findall(r"``(eemw operations [^`]+)``", " ".join(doc.split()))
    eemw = Path(sys.executable).with_name("eemw")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EEMW_")}
    done = subprocess.run(
        [str(eemw), "--emulator", *shlex.split(command)[1:]], capture_output=True, text=True,
        env=env, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\d+ cancelled$", done.stdout, flags=re.M), done.stdout
