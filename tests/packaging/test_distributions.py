"""The wheel and sdist a user installs hold what is public, the licence, and nothing else."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist",
         "--outdir", str(out), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    wheel = next(out.glob("eemw-*.whl"))
    sdist = next(out.glob("eemw-*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist}


def wheel_names(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as wheel:
        return wheel.namelist()


def test_wheel_holds_the_library_emulator_testing_and_types_only(dists: dict[str, Path]) -> None:
    names = wheel_names(dists["wheel"])
    library = [n for n in names if not n.startswith("eemw-")]
    assert all(n.startswith("eemw/") for n in library), [
        n for n in library if not n.startswith("eemw/")
    ]
    for needed in ("eemw/__init__.py", "eemw/py.typed", "eemw/testing.py",
                   "eemw/emulator/__init__.py", "eemw/cli.py"):
        assert needed in names
    for private in ("tests/", "benchmarks/", "plugins/", "examples/", "docs/"):
        assert not any(n.startswith(private) or f"/{private}" in n for n in names), private


def test_wheel_carries_the_licence_and_metadata_users_see(dists: dict[str, Path]) -> None:
    names = wheel_names(dists["wheel"])
    licence = [n for n in names if n.endswith("LICENSE") and ".dist-info/" in n]
    assert licence, "the wheel must ship LICENSE"
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        text = wheel.read(licence[0]).decode()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(wheel.read(meta_name).decode())
    assert "Apache License" in text and "Version 2.0" in text
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("Project-URL")
    classifiers = metadata.get_all("Classifier") or []
    assert f"Programming Language :: Python :: 3.{sys.version_info.minor}" in classifiers
    # Development tools are dependency groups, never extras a user could install.
    assert set(metadata.get_all("Provides-Extra") or []) <= {"cli", "earthengine", "emulator"}
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    for tool in ("pytest", "mypy", "ruff", "mkdocs"):
        assert tool not in requires


def test_sdist_carries_licence_readme_and_changelog(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "eemw/__init__.py"} <= names
    assert not any(n.startswith(("tests/", "benchmarks/", "plugins/")) for n in names)
