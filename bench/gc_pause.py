"""How long a full garbage collection stalls a service process, before and after
``actors.heap.freeze_startup_heap``.

Run from the repository root: ``python bench/gc_pause.py``. Imports what an actor host and
an edge import, then times ``gc.collect()`` (the median of 7) with the start-up heap
tracked and again once it is frozen.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from pathlib import Path

# The repository before bench/, whose edge.py would otherwise stand in for the edge package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import actors.host  # noqa: F401  (what `deltastream actors` loads)
import edge.app  # noqa: F401  (what `deltastream edge` loads)
from actors.heap import freeze_startup_heap


def _full_collection_ms(repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def main() -> None:
    gc.collect()
    tracked = len(gc.get_objects())
    before = _full_collection_ms()
    freeze_startup_heap()
    after = _full_collection_ms()
    print(
        f"start-up heap: {tracked:,} tracked objects; full collection {before:.1f} ms; "
        f"after freeze_startup_heap: {len(gc.get_objects()):,} tracked, {after:.2f} ms "
        f"({gc.get_freeze_count():,} frozen)"
    )


if __name__ == "__main__":
    main()
