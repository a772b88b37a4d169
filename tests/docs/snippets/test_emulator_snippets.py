"""The code of docs/emulator.md and docs/earthengine.md, run: each section is included there."""

from __future__ import annotations

import pytest

import eemw
from eemw.emulator import Emulator, Fault
from eemw.testing import FakeClock


def test_starting_one() -> None:
    # --8<-- [start:starting]
    from eemw.emulator import Emulator

    with Emulator() as emu:
        name = emu.add_operation("demo", state="RUNNING")
        credentials = emu.credentials()     # google-auth credentials that refresh against emu
        with eemw.Client("demo", endpoint=emu.url, credentials=credentials) as client:
            assert client.operations.get(name).state is eemw.State.RUNNING
    # --8<-- [end:starting]


def test_quotas() -> None:
    # --8<-- [start:quotas]
    with Emulator(quota_qps=100, quota_concurrent=20) as emu:
        name = emu.add_operation("demo", state="RUNNING")
        with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
            client.operations.get(name)
        assert emu.stats["quota_accepted"] == {"demo": 1}
    # --8<-- [end:quotas]


def test_faults(eemw_emulator: Emulator, eemw_client: eemw.Client, eemw_clock: FakeClock) -> None:
    emu, client = eemw_emulator, eemw_client
    name = emu.add_operation("demo", state="RUNNING")
    # --8<-- [start:faults]
    emu.add_fault(Fault(status=503, retry_after="2"))
    emu.add_fault(Fault(kind="drop_after", path_contains=":cancel"))
    # --8<-- [end:faults]
    assert client.operations.get(name).name == name    # the 503 was retried...
    assert eemw_clock.sleeps == [2.0]                  # ...after the Retry-After it sent
    client.operations.cancel(name)                     # its first answer was lost, then retried
    cancels = [r for r in emu.requests if r.path.endswith(":cancel")]
    assert len(cancels) == 2
    assert emu.stats["faults_injected"] == {"status": 1, "drop_after": 1}


# A chaos "delay" is real time; a short one keeps the test quick.
@pytest.mark.parametrize("eemw_emulator", [{"chaos_delay": 0.05}], indirect=True)
def test_chaos(eemw_emulator: Emulator, eemw_client: eemw.Client) -> None:
    emu, client = eemw_emulator, eemw_client
    names = [emu.add_operation("demo", state="RUNNING") for _ in range(20)]
    # --8<-- [start:chaos]
    emu.set_chaos(rate=0.3, seed=1)
    # --8<-- [end:chaos]
    for name in names:
        assert client.operations.get(name).name == name   # retries absorb the faults
    assert emu.stats["chaos_faults"] > 0


def test_earthengine_against_the_real_service(configured_like_production: Emulator) -> None:
    import ee

    import eemw.earthengine

    configured_like_production.set_answer("earthengine.projects.value.compute", {"result": 3})
    # --8<-- [start:earthengine-real]
    client = eemw.Client("my-project")
    eemw.earthengine.initialize(client)
    # --8<-- [end:earthengine-real]
    assert ee.Number(1).add(2).getInfo() == 3   # ee as usual, through the client
    assert any("/value:compute" in r.path for r in configured_like_production.requests)
    client.close()
