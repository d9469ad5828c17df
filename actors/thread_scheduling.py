"""Actor threads do not preempt the event loop when it wakes them (SCHED_BATCH, Linux).

The loop hands an actor its trip while it holds the GIL. Under the default policy, when
both share a core (a pinned host, ``DELTASTREAM_HOST_CPUS``), the kernel lets the woken
thread preempt the loop at once; without the GIL the actor can only block again, and the
loop resumes: two context switches per hand-over that buy nothing. SCHED_BATCH, which any
process may choose for its own threads, keeps the nice level and drops only that wake-up
preemption: the actor runs when the loop blocks and lets go of the GIL. Measured in
bench/RESULTS.md ("Actor threads that wait their turn"): about a tenth less host CPU at
20,000 rows/s and a lower p99.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["no_wakeup_preemption"]


def no_wakeup_preemption() -> None:
    """Put the calling thread under SCHED_BATCH where the platform has it and allows it (else
    the thread keeps the default policy, which is only slower)."""
    batch = getattr(os, "SCHED_BATCH", None)
    if batch is not None and hasattr(os, "sched_setscheduler"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, batch, os.sched_param(0))  # 0: this thread on Linux
