"""Stopping a child process (nats-server, test servers, actor hosts in tests and benches)."""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_child"]


def stop_child(proc: subprocess.Popen[Any], *, kill: bool = False, timeout_s: float = 15.0) -> bool:
    """SIGTERM (or SIGKILL with ``kill``) unless it already exited, then wait; SIGKILL if it
    is still running after ``timeout_s``. True when it had to be killed that way."""
    if proc.poll() is None:
        if kill:
            proc.kill()
        else:
            proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True
    return False
