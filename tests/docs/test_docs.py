"""The docs show only code that runs in CI, and the configuration page lists what eemw reads.

A Python block in README.md or a page under docs/ is either a snippet include of a file
(``--8<-- "examples/x.py"``) or of a marked section of one (``--8<-- "path.py:name"``, the
lines between ``# --8<-- [start:name]`` and ``# --8<-- [end:name]``), or a verbatim,
contiguous excerpt of a file under examples/ or tests/, indentation aside. A retyped block
drifts from the code; these tests stop that.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from functools import cache
from pathlib import Path

import pytest

import eemw

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = ("examples", "tests")
BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```$", re.M | re.S)
INCLUDE = re.compile(r'^--8<-- "([^"]+)"$')


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@cache
def source_lines() -> dict[str, list[str]]:
    files = (p for top in SOURCES for p in sorted((ROOT / top).rglob("*.py")))
    return {
        str(p.relative_to(ROOT)): [line.rstrip() for line in p.read_text("utf-8").splitlines()]
        for p in files
    }


def matches_at(lines: list[str], start: int, block: list[str]) -> bool:
    """True when ``block`` is ``lines[start:]`` with one common indent added to each line."""
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    for offset, wanted in enumerate(block):
        line = lines[start + offset]
        if line != (indent + wanted if wanted else ""):
            return False
    return True


def excerpt_of(block: str) -> str | None:
    """The source file that holds ``block`` verbatim (indentation aside), if one does."""
    wanted = [line.rstrip() for line in textwrap.dedent(block).strip("\n").splitlines()]
    for path, lines in source_lines().items():
        last = len(lines) - len(wanted)
        if any(matches_at(lines, i, wanted) for i in range(last + 1) if lines[i].strip()):
            return path
    return None


def includes_something(target: str) -> bool:
    """True when ``path`` or ``path:section`` names a file, and a marked section of it."""
    path, _, section = target.partition(":")
    if not (ROOT / path).is_file():
        return False
    text = (ROOT / path).read_text(encoding="utf-8")
    return not section or all(
        f"# --8<-- [{edge}:{section}]" in text for edge in ("start", "end")
    )


def is_include(block: str) -> bool:
    lines = [line.strip() for line in block.strip().splitlines()]
    return bool(lines) and all(INCLUDE.match(line) for line in lines)


CASES = [
    pytest.param(page, n, block, id=f"{page.relative_to(ROOT)}#{n}")
    for page in PAGES
    for n, block in enumerate(python_blocks(page), 1)
]


@pytest.mark.parametrize(("page", "number", "block"), CASES)
def test_a_python_block_is_code_that_runs_in_ci(page: Path, number: int, block: str) -> None:
    if is_include(block):
        for line in block.strip().splitlines():
            included = INCLUDE.match(line.strip())
            assert included and includes_something(included.group(1)), line
        return
    assert excerpt_of(block) is not None, (
        f"python block {number} of {page.relative_to(ROOT)} is not an excerpt of a file under "
        f"{' or '.join(SOURCES)}/: include the file or copy the lines that run"
    )


def test_the_include_check_refuses_a_missing_file_or_section() -> None:
    snippets = "tests/docs/snippets/test_calls_snippets.py"
    assert includes_something(f"{snippets}:errors")
    assert not includes_something(f"{snippets}:no-such-section")
    assert not includes_something("examples/no_such_example.py")


def test_the_excerpt_check_refuses_a_retyped_block() -> None:
    # The check above must be able to fail: a line changed from a real example is refused.
    example = source_lines()["examples/quickstart.py"]
    real = "\n".join(line for line in example[:6])
    assert excerpt_of(real) == "examples/quickstart.py"
    assert excerpt_of(real + "\nprint('retyped')") is None


def documented_variables(page: str) -> list[str]:
    """The names in the first column of the configuration page's environment table."""
    table = page.split("<!-- environment-table: begin -->")[1]
    table = table.split("<!-- environment-table: end -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("|")][2:]
    return [row.strip("|").split("|")[0].strip().strip("`") for row in rows]


def test_the_configuration_page_lists_exactly_the_variables_eemw_reads() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert documented_variables(page) == [var.name for var in eemw.ENVIRONMENT]


def test_the_configuration_page_gives_every_default_timeout() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = page.split("<!-- timeouts-table: begin -->")[1].split("<!-- timeouts-table: end -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("|")][2:]
    cells = [[c.strip().strip("`") for c in row.strip("|").split("|")] for row in rows]
    assert {call: float(seconds) for call, seconds, *_ in cells} == dict(eemw.DEFAULT_TIMEOUTS)


def test_the_readme_shows_the_two_setup_commands_on_its_first_screen() -> None:
    first_screen = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40]
    assert any("make demo" in line for line in first_screen)
    assert any("make test" in line for line in first_screen)


def test_the_readme_never_points_at_documents_users_do_not_have() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"DESIGN|\bissues? \d+|shared/", readme)


def test_the_configuration_page_documents_every_client_argument() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = page.split("## The `Client` constructor")[1].split("\n## ")[0]
    documented = set(re.findall(r"^\| ([^|]+) \|", section, flags=re.M))
    names = {name.strip("` ") for cell in documented for name in cell.split(",")}
    arguments = set(inspect.signature(eemw.Client.__init__).parameters) - {"self"}
    assert arguments <= names, f"undocumented Client arguments: {sorted(arguments - names)}"


def test_the_readme_stays_a_front_door() -> None:
    # The reference lives in docs/; a README that grows back past a few screens hides the
    # quick start again.
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 220


def test_every_readme_link_reaches_a_file_or_a_page_about_to_land() -> None:
    # A page still on another branch is a commented nav line "# lands with branch X" in
    # mkdocs.yml; once its line is uncommented the file must exist like any other.
    mkdocs = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    landing = {f"docs/{page}" for page in re.findall(r"#\s*- [^:]+: (\S+\.md)\s+# lands", mkdocs)}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {t.split("#")[0] for t in re.findall(r"\]\(([^)]+)\)", readme)}
    local = {t for t in targets if t and not re.match(r"https?://", t)}
    broken = {t for t in local if not (ROOT / t).exists() and t not in landing}
    assert not broken, f"README links to missing files: {sorted(broken)}"
