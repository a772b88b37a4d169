"""docs/earthengine.md's retry-safety table is eemw.earthengine.METHODS, row for row."""

from __future__ import annotations

from pathlib import Path

from eemw.earthengine import METHODS

DOC = Path(__file__).resolve().parents[2] / "docs" / "earthengine.md"
WORDS = {"safe": "safe", "unsafe": "once", "request_id": "with requestId",
         "reconcile": "reconcile"}


def test_the_docs_list_every_method_with_its_retry_safety() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("<!-- retry-safety-table: begin -->")[1].split(
        "<!-- retry-safety-table: end -->")[0]
    rows = [[cell.strip().strip("`") for cell in line.strip("|").split("|")]
            for line in table.strip().splitlines()[2:]]
    expected = [[m.kind, m.http_method, WORDS[m.safety], "yes" if m.mutates else "no"]
                for m in METHODS]
    assert rows == expected


def test_the_two_lines_the_docs_show_are_the_example_s_own() -> None:
    example = (DOC.parents[1] / "examples" / "earthengine.py").read_text(encoding="utf-8")
    snippet = DOC.read_text(encoding="utf-8").split("```python\n")[1].split("```")[0]
    for line in snippet.strip().splitlines():
        assert line.strip() in example, line
