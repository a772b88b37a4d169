"""Pins for the lowest-versions run of ``make test`` (``make test-lowest``), read from pyproject.

Writes two files into the folder given on the command line:

- ``constraints.txt``: every runtime requirement of eemw (``[project] dependencies`` and
  the ``cli`` and ``emulator`` extras) pinned to its declared floor, ``name>=X`` becoming
  ``name==X``, and so are the test tools that have a floor (as
  ``uv --resolution lowest-direct`` would): pip's resolver then installs exactly the
  oldest set eemw claims to support (their own dependencies resolve as usual);
- ``test-requirements.txt``: the ``test`` dependency group without the linters, type stubs
  and the official Earth Engine client (the run is the unit and integration suites, and the official
  client's own dependency floors are not eemw's to prove).

A runtime requirement without exactly one ``>=`` floor is an error: every floor must be
provable.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)")
_NOT_FOR_THE_RUN = re.compile(r"^(mypy|ruff|types-.*|earthengine-api)$", re.IGNORECASE)


def name_of(requirement: str) -> str:
    match = _FLOOR.match(requirement)
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    return match[1]


def floor_pin(requirement: str) -> str | None:
    """``name==floor`` for ``name>=floor``; None when the requirement names no floor."""
    specifiers = _FLOOR.match(requirement)[2]  # type: ignore[index]
    floors = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    return f"{name_of(requirement)}=={floors[0]}" if len(floors) == 1 else None


def main(pyproject: str, folder: str) -> None:
    toml = tomllib.loads(Path(pyproject).read_text())
    project = toml["project"]
    extras = project["optional-dependencies"]
    runtime = [*project["dependencies"], *extras["cli"], *extras["emulator"]]
    tests = [
        r for r in toml["dependency-groups"]["test"]
        if isinstance(r, str) and not _NOT_FOR_THE_RUN.match(name_of(r))
    ]
    pins: dict[str, str] = {}
    for requirement in runtime:
        pin = floor_pin(requirement)
        if pin is None:
            raise SystemExit(f"{requirement!r} needs exactly one >= floor")
        pins[name_of(requirement).lower()] = pin
    for requirement in tests:
        pin = floor_pin(requirement)
        if pin is not None:
            pins.setdefault(name_of(requirement).lower(), pin)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "constraints.txt").write_text("".join(f"{pin}\n" for pin in pins.values()))
    (out / "test-requirements.txt").write_text("".join(f"{r}\n" for r in tests))


if __name__ == "__main__":
    main(*sys.argv[1:])
