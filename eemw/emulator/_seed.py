"""The one demo dataset: what `make demo`, `eemw --emulator`, `eemw emulator` and
`python -m eemw.emulator` (and `Emulator(seed_operations=N)`) start with.

Seeded in the same order into a fresh emulator, and the emulator derives an id from the
project and the order of creation, so an id seen in one session names the same task in the
next, whichever way the emulator was started.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._emulator import Emulator

__all__ = ["DEMO_OPERATIONS", "MAX_SEED", "seed_demo"]

# (state, type, description, seconds until it starts, seconds it runs). A few finish within
# seconds on a real-time clock, so `wait` has something to wait for.
DEMO_SET = (
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

DEMO_OPERATIONS = len(DEMO_SET)
"""How many operations the demo set has (what ``--emulator`` seeds)."""
MAX_SEED = 10_000
"""The most a seed creates: enough to page through a long history (the service's queue of
active tasks holds 3,000; done tasks are listed too)."""


def seed_demo(emu: Emulator, count: int = DEMO_OPERATIONS, project: str | None = None) -> list[str]:
    """Add ``count`` demo operations to ``project`` (default: the emulator's); their names.

    Past the demo set the list starts again, the descriptions numbered (``… #2``), so any
    count up to :data:`MAX_SEED` works.
    """
    if not 0 <= count <= MAX_SEED:
        raise ValueError(f"seed between 0 and {MAX_SEED} operations, not {count}")
    names = []
    for index in range(count):
        state, kind, text, start, seconds = DEMO_SET[index % DEMO_OPERATIONS]
        rounds = index // DEMO_OPERATIONS
        names.append(
            emu.add_operation(
                project,
                state=state,
                type=kind,
                description=f"{text} #{rounds + 1}" if rounds else text,
                start_after=start,
                duration=seconds,
            )
        )
    return names
