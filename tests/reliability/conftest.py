"""Fixtures of the reliability runs: one report for the session, a metrics reader per test."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def _load_tools() -> Any:
    # Tests run with --import-mode=importlib, so this directory is not on sys.path: load
    # the helpers once, by path, and register them so test modules can import them.
    spec = importlib.util.spec_from_file_location(
        "reliability_tools", Path(__file__).with_name("reliability_tools.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reliability_tools"] = module
    spec.loader.exec_module(module)
    return module


_tools = sys.modules.get("reliability_tools") or _load_tools()


@pytest.fixture(scope="session")
def reliability_report() -> Iterator[Any]:
    report = _tools.Report()
    yield report
    target = os.environ.get(_tools.REPORT_ENV)
    if target and report.sections:
        Path(target).write_text(report.to_json())


@pytest.fixture
def meters() -> Iterator[Any]:
    found = _tools.Meters()
    yield found
    found.provider.shutdown()
