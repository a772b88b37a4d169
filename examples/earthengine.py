"""earthengine-api on eemw: every ``ee`` request becomes a traced, retried call of the client.

Two lines turn it on: build an ``eemw.Client`` and hand it to
``eemw.earthengine.initialize``. From then on ``ee.Number(...).getInfo()``, ``ee.data``
and ``ee.batch`` go through the client's pipeline, each under the name of the REST method
it hits. It runs against the embedded emulator (which answers ``value:compute`` with what
the script tells it to), so it needs no Google account or network:

    pip install 'eemw[earthengine]'
    python examples/earthengine.py

Against the real API: ``eemw.earthengine.initialize(eemw.Client("my-project"))``.
"""

from __future__ import annotations

import ee

import eemw
import eemw.earthengine
from eemw.emulator import Emulator, Fault


def log_calls(request: eemw.Request, call_next: eemw.Handler) -> eemw.Response:
    """A user middleware: it sees ee's traffic like any other call, errors typed."""
    try:
        response = call_next(request)
    except eemw.EemwError as error:
        print(f"  {request.call.label:<42} -> {type(error).__name__}")
        raise
    print(f"  {request.call.label:<42} -> {response.status}")
    return response


def main() -> int:
    with Emulator() as emu:
        emu.set_answer("earthengine.projects.value.compute", {"result": 3})
        retry = eemw.RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
        middleware = [eemw.Entry("log-calls", log_calls, "call")]

        print("ee initializes through eemw:")
        client = eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials(),
                             retry=retry, middleware=middleware)
        eemw.earthengine.initialize(client)

        print("a computation:")
        print(f"ee.Number(1).add(2).getInfo() = {ee.Number(1).add(2).getInfo()}")

        print("an export that carries a requestId survives a lost answer:")
        emu.add_fault(Fault(kind="drop_after", path_contains="image:export"))
        task = ee.batch.Export.image.toDrive(ee.Image(1), description="example")
        task.start()
        stats = emu.stats
        print(f"export sent {stats['methods']['earthengine.projects.image.export']} times, "
              f"{stats['exports_started']} task started")

        print("errors reach ee as the server sent them:")
        try:
            ee.data.getAsset("projects/demo/assets/missing")
        except ee.EEException as error:
            print(f"ee.EEException: {error}")

        eemw.earthengine.uninstall()
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
