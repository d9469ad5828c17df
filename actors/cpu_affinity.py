"""Pin an actor host's threads to chosen CPUs (``DELTASTREAM_HOST_CPUS``, Linux).

An actor host is one Python process: its event loop and its actor threads take turns under
one GIL, so it runs on about one core at a time. Left to the scheduler, those threads sit
on different cores, and every hand-over between them (each feed message goes loop → actor
→ loop) wakes a thread on another core and moves the GIL across. Pinned to one core, the
hand-overs stay on it: in bench/RESULTS.md ("Pinning the actor host") this cut the host's CPU
per message by about a third and the p99 latency at 20,000 rows/s by 2–3 ms.

The syntax is the kernel's CPU list: ``1``, ``0,2``, ``4-7``, ``0-1,6``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable

from actors.errors import ConfigError

__all__ = ["format_cpu_list", "parse_cpu_list", "pin_threads"]

SETTING = "DELTASTREAM_HOST_CPUS"
# Far above any machine's count; a typo such as 10000000 is refused before the kernel sees it.
_MAX_CPU = 65_535


def parse_cpu_list(text: str) -> frozenset[int]:
    """The CPUs a CPU list names; empty text names none (no pinning)."""
    if not text.strip():
        return frozenset()
    cpus: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        first, dash, last = part.partition("-")
        try:
            lo = _cpu(first)
            hi = _cpu(last) if dash else lo
        except ValueError:
            raise ConfigError(
                f"setting {SETTING}: {part!r} is not a CPU number or range "
                "(a CPU list such as 1, 0,2 or 4-7)"
            ) from None
        if hi < lo:
            raise ConfigError(f"setting {SETTING}: the range {part!r} runs backwards")
        cpus.update(range(lo, hi + 1))
    return frozenset(cpus)


def _cpu(text: str) -> int:
    text = text.strip()
    if not text.isdigit() or int(text) > _MAX_CPU:
        raise ValueError(text)
    return int(text)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 5}`` → ``0-2,5``."""
    runs: list[list[int]] = []
    for cpu in sorted(cpus):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def pin_threads(cpus: frozenset[int], pid: int | None = None) -> None:
    """Restrict every thread of process ``pid`` (this one by default) to ``cpus``; threads
    started later inherit it from their creator. ``ConfigError`` when a CPU is not one the
    process may use, or the platform cannot pin."""
    if not hasattr(os, "sched_setaffinity") or not sys.platform.startswith("linux"):
        raise ConfigError(f"setting {SETTING}: CPU pinning needs Linux")
    target = os.getpid() if pid is None else pid
    allowed = os.sched_getaffinity(target)
    if not cpus or not cpus <= allowed:
        raise ConfigError(
            f"setting {SETTING}: CPU {format_cpu_list(cpus - allowed) or '(none)'} is not "
            f"available to this process (it may use {format_cpu_list(allowed)})"
        )
    # sched_setaffinity on a pid sets one thread: each thread in /proc/<pid>/task is set.
    for tid in os.listdir(f"/proc/{target}/task"):
        with contextlib.suppress(ProcessLookupError):  # a thread that has just ended
            os.sched_setaffinity(int(tid), cpus)
