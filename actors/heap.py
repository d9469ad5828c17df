"""The cyclic garbage collector and a long-running service's start-up heap.

Everything a process allocates while it starts (modules, compiled kernels, restored chains)
lives until it exits, yet every full collection walks all of it again: 86–103 ms in a process
that loaded the actor host and the edge (``bench/gc_pause.py``), 74–103 ms seen in an edge
under REST load, a stall for every message and client in flight (bench/RESULTS.md). Once
start-up is done, ``freeze_startup_heap`` moves those objects to the collector's permanent
generation, so later collections walk only what came after.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from future collections."""
    gc.collect()
    gc.freeze()
