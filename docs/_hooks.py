"""MkDocs hook: the API reference lists exactly ``eemw.__all__``, generated at build time.

The names live in one place (``eemw/__init__.py``); this hook turns the marker on the
reference page into one mkdocstrings block per public name, so the reference can never
miss a name or keep a removed one.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- eemw public names -->"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    import eemw

    names = sorted((n for n in eemw.__all__ if not n.startswith("_")), key=str.lower)
    blocks = [
        f"::: eemw.{name}\n    options:\n      heading_level: 3\n      show_root_full_path: false\n"
        for name in names
        if not _is_module(getattr(eemw, name))
    ]
    return markdown.replace(MARKER, "\n".join(blocks))


def _is_module(value: object) -> bool:
    return type(value).__name__ == "module"
