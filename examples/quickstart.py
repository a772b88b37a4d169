"""Quickstart: list, get, cancel and wait on Earth Engine operations with eemw.

Shows the everyday calls of ``client.operations`` and what an API error looks like. It
runs against the embedded emulator (a real HTTP server on 127.0.0.1), so it needs no
Google account or network:

    python examples/quickstart.py

Against the real API, build the client as ``eemw.Client("my-project")``: credentials then
come from ``google.auth.default()`` (``gcloud auth application-default login``).
"""

from __future__ import annotations

import eemw
from eemw.emulator import Emulator


def main() -> int:
    # realtime=True: operations progress with the wall clock, as real tasks do.
    with Emulator(realtime=True) as emu:
        export = emu.add_operation(
            "demo", state="RUNNING", type="EXPORT_IMAGE",
            description="Sentinel-2 median, 2025", duration=1.0,
        )
        ingest = emu.add_operation(
            "demo", state="PENDING", type="INGEST_IMAGE",
            description="DEM tile 42", start_after=60.0,
        )
        emu.add_operation("demo", state="SUCCEEDED", description="NDVI composite, 2024")

        with eemw.Client("demo", endpoint=emu.url, credentials=emu.credentials()) as client:
            print("Operations in project demo:")
            for op in client.operations.list():
                print(f"  {op.id}  {op.state.value:<9}  {op.metadata.description}")

            op = client.operations.get(export)  # a full name, or just the id
            print(f"\nget: {op.id} is {op.state.value}, type {op.metadata.type}")

            client.operations.cancel(ingest)
            print(f"cancel: {client.operations.get(ingest).state.value}")

            done = client.operations.wait(export, timeout=30, poll_interval=0.2)
            print(f"wait: {done.id} finished {done.state.value}")

            try:
                client.operations.get("NO_SUCH_TASK")
            except eemw.NotFoundError as error:
                print(f"errors are typed: {type(error).__name__} ({error.rpc_status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
