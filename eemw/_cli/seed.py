"""The demo operations that ``--emulator`` and ``eemw emulator`` start with.

Both seed the same list in the same order into a fresh emulator, and the emulator derives
an id from the project and the order of creation, so an id seen in one session names the
same task in the next, whichever way the emulator was started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..emulator import Emulator

__all__ = ["DEMO_OPERATIONS", "MAX_SEED", "seed_demo"]

# (state, type, description, seconds until it starts, seconds it runs). A few finish within
# seconds on the realtime clock, so `wait` has something to wait for.
_DEMO = (
    ("SUCCEEDED", "EXPORT_IMAGE", "NDVI composite, 2024", 60.0, 900.0),
    ("RUNNING", "EXPORT_IMAGE", "Sentinel-2 median, 2025", 30.0, 1800.0),
    ("RUNNING", "INGEST_IMAGE", "DEM tile 42", 5.0, 3.0),
    ("PENDING", "EXPORT_FEATURES", "Field boundaries", 1.0, 2.0),
    ("FAILED", "EXPORT_VIDEO", "Timelapse, Lake Mead", 10.0, 120.0),
    ("CANCELLED", "EXPORT_TILES", "Map tiles, zoom 0-12", 20.0, 400.0),
    ("SUCCEEDED", "INGEST_TABLE", "Parcel table upload", 5.0, 40.0),
    ("RUNNING", "EXPORT_FEATURES", "Land-cover samples", 15.0, 600.0),
    ("PENDING", "EXPORT_IMAGE", "Landsat 9 mosaic", 300.0, 1200.0),
    ("SUCCEEDED", "EXPORT_IMAGE", "Burn severity, 2023", 45.0, 700.0),
    ("RUNNING", "EXPORT_TILES", "Basemap tiles", 10.0, 5.0),
    ("SUCCEEDED", "INGEST_IMAGE", "Orthophoto batch 7", 8.0, 200.0),
)

DEMO_OPERATIONS = len(_DEMO)
"""How many operations the demo set has (what ``--emulator`` seeds)."""
MAX_SEED = 3000
"""The most ``eemw emulator --seed-operations`` creates: a project's queue limit."""


def seed_demo(emu: Emulator, count: int = DEMO_OPERATIONS) -> list[str]:
    """Add ``count`` demo operations to ``emu``'s default project; returns their names.

    Past the demo set the list starts again, the descriptions numbered (``… #2``).
    """
    names = []
    for index in range(count):
        state, kind, text, start, seconds = _DEMO[index % DEMO_OPERATIONS]
        rounds = index // DEMO_OPERATIONS
        names.append(emu.add_operation(
            state=state, type=kind, description=f"{text} #{rounds + 1}" if rounds else text,
            start_after=start, duration=seconds,
        ))
    return names
