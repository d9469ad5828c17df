"""Fork actor hosts from one process that has already imported everything.

A fresh ``python -m edge.cli actors`` spends seconds importing numpy, numba kernels and the
rest before it serves; a test that kills and restarts a host twenty times would mostly wait
for imports. This process imports once, single-threaded, then forks a child per request:
each child is an ordinary ``deltastream`` command (``edge.cli.main(args)``, e.g. ``actors``
or ``edge --port 8123``) with the environment this process was started with.

Protocol on stdin/stdout, one line each: ``spawn ARGS...`` → ``pid PID``; ``reap PID`` →
``reaped PID STATUS`` once that child has exited (after the test killed it). Children share
this stdout: what they print (``edge on http://...`` once an edge listens) comes as lines of
its own. End of input: every child still running is killed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import edge.cli


def _spawn(args: list[str]) -> int:
    assert threading.active_count() == 1, "fork only from a single-threaded process"
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: a deltastream command until it is killed
        code = 1
        try:
            code = edge.cli.main(args)
        finally:
            sys.stdout.flush()
            os._exit(code)
    return pid


def main() -> None:
    children: set[int] = set()
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        if command == "spawn":
            pid = _spawn(arg.split())
            children.add(pid)
            print(f"pid {pid}", flush=True)
        elif command == "reap":
            pid = int(arg)
            _, status = os.waitpid(pid, 0)
            children.discard(pid)
            print(f"reaped {pid} {status}", flush=True)
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


if __name__ == "__main__":
    main()
