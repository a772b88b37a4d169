"""The demo operations of ``--emulator``: the emulator package's one demo dataset."""

from __future__ import annotations

from ..emulator._seed import DEMO_OPERATIONS, MAX_SEED, seed_demo

__all__ = ["DEMO_OPERATIONS", "MAX_SEED", "seed_demo"]
