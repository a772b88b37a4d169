"""The official earthengine-api client initialises against the emulator's discovery document."""

from __future__ import annotations

import pytest

from eemw.emulator import Emulator

ee = pytest.importorskip("ee")


def test_ee_initialize_and_operations_against_the_emulator() -> None:
    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        ee.Initialize(emu.credentials(), url=emu.url, project="demo")
        assert ee.data.getOperation(name)["name"] == name
        assert [op["name"] for op in ee.data.listOperations()] == [name]
        ee.data.cancelOperation(name)
        assert ee.data.getOperation(name)["metadata"]["state"] == "CANCELLED"
        assert emu.cancel_effects(name) == 1
        # It found the API through the emulator's own discovery document.
        assert any("discovery" in r.path for r in emu.requests)
