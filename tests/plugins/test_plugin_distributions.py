"""The plugin distributions as a third party would publish them, and the plugin guide's example.

Each distribution under ``plugins/`` declares what its tests need, links nowhere that breaks
in package metadata, and depends on a range of eemw. The "Writing a plugin"
guide (docs/plugins.md, or the README before that page exists) points at the fixture
distribution the suite installs and runs, and any file it shows is that file byte for byte.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = sorted(p for p in (ROOT / "plugins").glob("eemw-*") if p.is_dir())
READONLY = Path(__file__).resolve().parent / "fixtures" / "eemw-readonly"


def project(dist: Path) -> dict[str, object]:
    table: dict[str, object] = tomllib.loads((dist / "pyproject.toml").read_text())["project"]
    return table


def requirement_name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def distribution_of(module: str, provided: set[str]) -> str | None:
    """The installed distribution that provides ``module``; None for the standard library
    and for the ``provided`` top-level packages (eemw and the plugin's own)."""
    top = module.split(".", maxsplit=1)[0]
    if top in sys.stdlib_module_names or top in provided:
        return None
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:  # `from a import b` where b is a name, not a module
        return None
    if spec is None or spec.origin is None:  # a namespace: its modules are listed too
        return None
    origin = Path(spec.origin).resolve()
    for name in metadata.packages_distributions().get(top, []):
        files = metadata.distribution(name).files or []
        if any(Path(str(f.locate())).resolve() == origin for f in files):
            return requirement_name(name)
    raise AssertionError(f"no installed distribution provides {module} ({origin})")


def imported_modules(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found - {"__future__"}


def test_there_are_plugin_distributions() -> None:
    assert {d.name for d in DISTRIBUTIONS} >= {"eemw-ratelimit", "eemw-audit"}


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: d.name)
def test_a_plugin_depends_on_a_range_of_eemw(dist: Path) -> None:
    dependencies = project(dist)["dependencies"]
    assert isinstance(dependencies, list)
    assert "eemw>=0.1,<0.2" in dependencies


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: d.name)
def test_a_plugin_declares_what_its_tests_import(dist: Path) -> None:
    table = project(dist)
    extras = table.get("optional-dependencies", {})
    assert isinstance(extras, dict) and "test" in extras, f"{dist.name}: no 'test' extra"
    declared = {requirement_name(r) for r in extras["test"]}
    runtime = {requirement_name(r) for r in table["dependencies"]}  # type: ignore[attr-defined]
    # What eemw itself brings is there whenever the plugin is installed.
    runtime |= {
        requirement_name(r) for r in metadata.requires("eemw") or [] if "extra ==" not in r
    }
    provided = {"eemw"} | {p.name for p in (dist / "src").iterdir() if p.is_dir()}
    needed = {distribution_of(m, provided) for m in imported_modules(dist / "tests")} - {None}
    assert needed - runtime <= declared, f"{dist.name}: undeclared {needed - runtime - declared}"


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: d.name)
def test_a_plugin_readme_has_no_links_that_break_on_pypi(dist: Path) -> None:
    # The README becomes the package's long description: a relative link points nowhere.
    readme = (dist / "README.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", readme)
    assert all(re.match(r"https?://|#", t) for t in targets), targets


def plugin_guide() -> tuple[str, str]:
    """The "Writing a plugin" section: in docs/plugins.md once that page exists, else the README."""
    page = ROOT / "docs" / "plugins.md"
    path = page if page.exists() else ROOT / "README.md"
    text = path.read_text(encoding="utf-8")
    heading = re.search(r"^(#+) Writing a plugin\n", text, flags=re.M)
    assert heading, f"{path.name} has no 'Writing a plugin' section"
    level = len(heading.group(1))
    end = re.search(rf"^#{{1,{level}}} ", text[heading.end():], flags=re.M)
    section = text[heading.start():heading.end() + end.start() if end else len(text)]
    return path.name, section


def guide_example_files(section: str) -> dict[str, str]:
    """The files the guide shows: each a line starting with its `path`, then its code block."""
    blocks = re.findall(
        r"^`([\w./-]+\.[a-z]+)`(?:[^\n]*\n)+?\n```[a-z]*\n(.*?)^```$", section, flags=re.M | re.S
    )
    return dict(blocks)


def test_the_plugin_guide_example_is_the_tested_fixture() -> None:
    # The guide points at the fixture the suite installs and runs; a file it shows is that
    # file byte for byte, so the guide cannot drift from a plugin that works.
    name, section = plugin_guide()
    assert "tests/plugins/fixtures/eemw-readonly/" in section or guide_example_files(section)
    for relative, text in guide_example_files(section).items():
        assert (READONLY / relative).read_text() == text, f"{name} differs from {relative}"
    assert (READONLY / "src/eemw_readonly/py.typed").exists()
