"""Fail the docs build when a public name has no docstring or is missing from the reference.

Run by ``make docs`` after ``mkdocs build --strict``: mkdocstrings renders what exists but
does not complain about what is undocumented, so this closes that gap. Docstrings are read
statically with griffe (the same loader mkdocstrings uses), so attribute docstrings on
constants count.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import griffe

import eemw

MODULES = (
    "eemw", "eemw.testing", "eemw.emulator", "eemw.errors", "eemw.keys", "eemw.middleware",
    "eemw.earthengine",
)


def public_names(module: str) -> list[str]:
    if module == "eemw":
        return [n for n in eemw.__all__ if not n.startswith("__")]
    loaded = __import__(module, fromlist=["__all__"])
    return list(getattr(loaded, "__all__", []))


def missing_docstrings(package: griffe.Object, module: str) -> list[str]:
    target = package if module == "eemw" else package[module.removeprefix("eemw.")]
    missing = []
    for name in public_names(module):
        try:
            obj = target[name]
            docstring = obj.docstring
        except (KeyError, griffe.AliasResolutionError):
            missing.append(f"{module}.{name} (not found by griffe)")
            continue
        if docstring is None or not docstring.value.strip():
            missing.append(f"{module}.{name}")
    return missing


def missing_from_site(site: Path) -> list[str]:
    page = (site / "reference" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="([A-Za-z_][\w.]*)"', page))
    return [
        f"{module}.{name}"
        for module in MODULES
        for name in public_names(module)
        if f"{module}.{name}" not in anchors
    ]


def main(site: str) -> int:
    package = griffe.load("eemw", search_paths=["."])
    problems = [f"no docstring: {n}" for m in MODULES for n in missing_docstrings(package, m)]
    problems += [f"not in the API reference: {n}" for n in missing_from_site(Path(site))]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1] if len(sys.argv) > 1 else "site"))
