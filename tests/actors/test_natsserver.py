"""NatsServer: a real nats-server child on a free port, ready when start() returns,
stopped idempotently, its JetStream store surviving a restart, and (tied to its parent)
ending when the parent is killed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import select
import signal
import stat
import subprocess
import sys
from pathlib import Path

import nats
import pytest

from actors import natsserver
from actors.natsserver import NatsServer

CONNECT_TIMEOUT_S = 5.0
EXIT_WAIT_S = 30.0
ROOT = Path(__file__).resolve().parents[2]
ATTEMPTS = 300  # the start-up race below shows up in ~10-30 % of attempts on this machine


async def _connectable(url: str) -> bool:
    nc = await nats.connect(url, allow_reconnect=False, connect_timeout=CONNECT_TIMEOUT_S)
    try:
        await nc.jetstream().account_info()
        return nc.is_connected
    finally:
        await nc.close()


def _fake_binary(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-nats-server"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


async def test_start_picks_a_free_port_and_the_url_connects(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js")
    server.start()
    try:
        assert (server.port > 0, server.url, await _connectable(server.url)) == (
            True,
            f"nats://127.0.0.1:{server.port}",
            True,
        )
    finally:
        server.stop()


def test_two_servers_started_together_get_different_ports(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "a") as a, NatsServer(tmp_path / "b") as b:
        assert a.port != b.port


async def test_after_stop_nothing_listens_on_the_port(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js").start()
    server.stop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection(server.host, server.port), CONNECT_TIMEOUT_S)


def test_stop_is_idempotent(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js")
    server.stop()  # never started
    server.start()
    server.stop()
    server.stop()
    server.stop(kill=True)
    assert server.process is None


def test_the_context_manager_stops_the_server(tmp_path: Path) -> None:
    with NatsServer(tmp_path / "js") as server:
        proc = server.process
        assert proc is not None
    assert (server.process, proc.poll() is not None) == (None, True)


async def test_a_restart_on_the_same_store_dir_keeps_a_streams_messages(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "js").start()
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(name="KEEP", subjects=["keep.>"])
        for i in range(3):
            await js.publish(f"keep.{i}", f"message {i}".encode())
        await nc.close()
        port = server.port
        server.stop()
        server.start()

        nc = await nats.connect(server.url)
        js = nc.jetstream()
        info = await js.stream_info("KEEP")
        kept = [(await js.get_msg("KEEP", seq)).data for seq in (1, 2, 3)]
        await nc.close()
        assert (server.port, info.state.messages, kept) == (
            port,
            3,
            [b"message 0", b"message 1", b"message 2"],
        )
    finally:
        server.stop()


def test_a_server_that_never_gets_ready_makes_start_raise_with_the_last_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Thirty log lines, then it hangs with its log still open: start() runs into its timeout.
    binary = _fake_binary(
        tmp_path,
        'i=1; while [ $i -le 30 ]; do echo "log line $i" >&2; i=$((i+1)); done\n'
        "exec tail -f /dev/null\n",
    )
    monkeypatch.setattr(natsserver, "find_binary", lambda: binary)
    server = NatsServer(tmp_path / "js", ready_timeout_s=2.0)
    try:
        with pytest.raises(RuntimeError) as info:
            server.start()
    finally:
        server.stop()
    text = str(info.value)
    assert (
        "log line 30" in text,
        "log line 11\n" in text,
        "log line 10\n" in text,
        server.process,
    ) == (True, True, False, None)


def test_a_bad_extra_arg_makes_start_raise_runtime_error_with_the_log_tail(
    tmp_path: Path,
) -> None:
    returned: list[str] = []
    for i in range(ATTEMPTS):
        server = NatsServer(tmp_path / f"js{i}", extra_args=("--no-such-flag",))
        try:
            server.start()
        except RuntimeError as exc:
            assert "flag provided but not defined" in str(exc)
            continue
        finally:
            server.stop()
        returned.append(server.url)
        break
    assert returned == []


def test_a_server_that_closes_its_log_without_getting_ready_makes_start_raise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = _fake_binary(
        tmp_path,
        'echo "flag provided but not defined: -no-such-flag" >&2\n'
        "exec 2>&-\n"
        "exec tail -f /dev/null\n",  # still running, log closed
    )
    monkeypatch.setattr(natsserver, "find_binary", lambda: binary)
    server = NatsServer(tmp_path / "js")
    try:
        with pytest.raises(RuntimeError, match="flag provided but not defined"):
            server.start()
    finally:
        server.stop()


# A parent that starts a server tied to it, says the server's pid, then waits to be killed.
_TIED_PARENT = """
import signal, sys
from pathlib import Path
from actors.natsserver import NatsServer
server = NatsServer(Path(sys.argv[1]), tied_to_parent=True).start()
print(server.process.pid, flush=True)
signal.pause()
"""


def _exited(pid_fd: int, timeout_s: float) -> bool:
    """Whether the process behind ``pid_fd`` ended within ``timeout_s`` (a pidfd turns
    readable when it does)."""
    readable, _, _ = select.select([pid_fd], [], [], timeout_s)
    return bool(readable)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG)")
def test_a_server_tied_to_its_parent_ends_when_the_parent_is_killed(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", _TIED_PARENT, str(tmp_path / "js")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as parent:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        pid_fd = os.pidfd_open(server_pid)
        try:
            assert not _exited(pid_fd, 0)
            parent.kill()  # SIGKILL: no chance to stop its server itself
            parent.wait()
            assert _exited(pid_fd, EXIT_WAIT_S)
        finally:
            os.close(pid_fd)
            with contextlib.suppress(ProcessLookupError):
                os.kill(server_pid, signal.SIGKILL)


def test_a_tied_server_is_spawned_on_the_main_thread_only(tmp_path: Path) -> None:
    # The kernel ties the server to the thread that starts it: a worker thread may end long
    # before the process, so spawning a tied server there is refused.
    server = NatsServer(tmp_path / "js", tied_to_parent=True)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with pytest.raises(RuntimeError, match="main thread"):
            pool.submit(server.spawn).result()
    assert server.process is None
