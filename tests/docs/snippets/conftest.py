"""Fixtures for the docs' snippets: a machine that looks, to eemw, like one set up for Google."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from eemw.emulator import Emulator


@pytest.fixture
def configured_like_production(
    eemw_emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """Application-default credentials and an endpoint from the environment, both the emulator's.

    So a snippet can show ``eemw.Client("my-project")`` exactly as a user writes it.
    """
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(eemw_emulator.service_account_info()), encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    monkeypatch.setenv("EEMW_ENDPOINT", eemw_emulator.url)
    yield eemw_emulator
