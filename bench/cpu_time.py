"""CPU time of benchmark processes from /proc: per process between two instants, and for an
actor host also its event-loop thread and its time in the kernel (Linux)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CpuMeter"]


def _cpu_s(stat: Path, *, system_only: bool = False) -> float:
    """CPU time (user + system, or system alone) used so far by the process or thread of a
    /proc stat file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[12]) if system_only else int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_by_name(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per process; for the host also its main thread (the event loop: NATS,
    ingress, publishing) apart from its other threads (the actors)."""
    out = {name: _cpu_s(Path(f"/proc/{pid}/stat")) for name, pid in pids.items()}
    if "host" in pids:
        pid = pids["host"]
        out["host in the kernel"] = _cpu_s(Path(f"/proc/{pid}/stat"), system_only=True)
        out["host main thread"] = _cpu_s(Path(f"/proc/{pid}/task/{pid}/stat"))
    return out


class CpuMeter:
    """CPU seconds of the host and nats-server between ``start`` and ``stop``."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self.begin: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self.begin = _cpu_by_name(self.pids)

    def stop(self) -> None:
        self.used = {name: s - self.begin[name] for name, s in _cpu_by_name(self.pids).items()}

    def report(self, elapsed_s: float, n_msgs: int) -> str:
        return ", ".join(
            f"{name} {used:.2f} CPU-s ({100 * used / elapsed_s:.0f} % of a core, "
            f"{1e6 * used / n_msgs:.0f} µs/msg)"
            for name, used in self.used.items()
        )
