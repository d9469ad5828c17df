"""The cyclic garbage collector and a long-running service's start-up heap.

Everything a process allocates while it starts (modules, compiled kernels, restored chains)
lives until it exits, yet every full collection walks all of it again: 70–110 ms each in
an actor host on the bench machine, stalls that land on whatever message is in flight
(bench/RESULTS.md). Once start-up is done, ``freeze_startup_heap`` moves those objects to
the collector's permanent generation, so later collections walk only what came after.
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> None:
    """Collect once, then exempt every surviving object from future collections."""
    gc.collect()
    gc.freeze()
