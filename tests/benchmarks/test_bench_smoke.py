"""The benchmark harness still runs: a smoke pass (few iterations) as a subprocess.

Nothing here checks a number: timings belong in benchmarks/RESULTS.md, not in tests.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "End to end, per call", "Stack overhead", "Import and cold start", "Paging a big project",
    "Scale", "Memory", "earthengine-api through eemw, per request",
)


def test_smoke_run_covers_every_section(tmp_path: Path) -> None:
    out = tmp_path / "SMOKE.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    for title in SECTIONS:
        assert f"### {title}" in text
        assert f"### {title}" in done.stdout  # every table is printed as well
    assert "FAILED" not in text
    assert "SMOKE run" in text
    assert "## Targets" in text and "eemw `get` CPU" in text
    e2e = text.split("### End to end, per call")[1].split("### Stack overhead")[0]
    assert "| eemw |" in e2e and "| requests |" in e2e
    if importlib.util.find_spec("ee") is None:
        assert "earthengine-api ee.data: not installed here" in text
