"""A real redis-server child process for tests: a free port, a temp dir, no persistence,
waited for until its "Ready to accept connections" log line, stopped and restartable on the
same port (to test an edge that loses Redis and gets it back).

redis-server cannot listen on port 0, so a free port is found by binding a socket to port 0
and closing it; if another process takes it meanwhile, start-up fails and is retried.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from pathlib import Path

from actors.child_process import stop_child

READY = "Ready to accept connections"
READY_TIMEOUT_S = 20.0
_START_ATTEMPTS = 3


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def find_redis_server() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError("redis-server not found: run `just test-deps`")
    return found


class RedisServer:
    def __init__(self, workdir: Path, host: str = "127.0.0.1") -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.port = 0
        self.process: subprocess.Popen[str] | None = None
        self.log_lines: list[str] = []
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> RedisServer:
        """Start on a fresh free port, or on the same port again after ``stop``."""
        for attempt in range(_START_ATTEMPTS):
            if self.port == 0 or attempt > 0:
                self.port = free_port(self.host)
            if self._start_once():
                return self
        tail = "\n".join(self.log_lines[-20:])
        raise RuntimeError(f"redis-server did not become ready:\n{tail}")

    def _start_once(self) -> bool:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "no",
            "--logfile", "",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready, seen = threading.Event(), threading.Event()
        assert self.process.stdout is not None
        stream = self.process.stdout

        def pump() -> None:
            for line in stream:
                self.log_lines.append(line.rstrip())
                if READY in line:
                    seen.set()
                    ready.set()
            ready.set()

        self._pump = threading.Thread(target=pump, name="redis-server-log", daemon=True)
        self._pump.start()
        ready.wait(READY_TIMEOUT_S)
        if seen.is_set() and self.process.poll() is None:
            return True
        self.stop()
        return False

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        stop_child(proc)
        if self._pump is not None:
            self._pump.join(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
