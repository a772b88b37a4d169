"""The code of docs/transport-and-auth.md, run: its section is included there."""

from __future__ import annotations

import pytest

import eemw
from eemw.emulator import Emulator, Fault


def test_a_transport_of_your_own(configured_like_production: Emulator) -> None:
    emu = configured_like_production
    name = emu.add_operation("my-project", state="RUNNING")
    # --8<-- [start:transport]
    transport = eemw.RequestsTransport(max_body_bytes=1024 * 1024, connect_timeout=5.0)
    client = eemw.Client("my-project", transport=transport)
    # --8<-- [end:transport]
    with client:
        assert client.operations.get(name).name == name
        emu.add_fault(Fault(kind="huge", size=4 * 1024 * 1024, times=None))
        with pytest.raises(eemw.MalformedResponseError, match="cut after 1048576 bytes"):
            client.operations.get(name)   # a 4 MiB answer is read up to the cap, no further
