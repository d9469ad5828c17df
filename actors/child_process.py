"""Child processes: stopping one (nats-server, test servers, actor hosts in tests and
benches), and a child making sure it does not outlive its parent."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["die_with_parent", "ended_with_this_thread", "stop_child"]

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _prctl() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl


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


def die_with_parent(parent_pid: int) -> bool:
    """Have the kernel send this process SIGTERM when ``parent_pid``, its parent, exits, however
    it exits (a SIGKILL leaves it no chance to stop its children itself). Linux only: False
    elsewhere, or when prctl refuses. A parent already gone by the time this runs gets the
    same SIGTERM at once."""
    if not sys.platform.startswith("linux"):
        return False
    if _prctl()(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent_pid:  # it exited before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def ended_with_this_thread() -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen`` of a program that cannot ask for
    ``die_with_parent`` itself (nats-server): the kernel sends the child SIGTERM when the
    thread starting it exits, which for the main thread is when this process exits, SIGKILL
    included. The request survives the ``exec``. None off Linux; ``RuntimeError`` off the
    main thread (a worker thread may end long before the process does)."""
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("a child tied to its parent is spawned on the main thread")
    if not sys.platform.startswith("linux"):
        return None
    prctl = _prctl()  # resolved here: the forked child only calls it
    parent = os.getpid()

    def request() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return request
