"""The test side of tests/faults/zygote.py: fork ``deltastream`` commands, kill them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from tests.conftest import WAIT_S

ROOT = Path(__file__).resolve().parents[2]


class Zygote:
    """``spawn(*args)`` forks ``deltastream ARGS`` and returns its pid; ``kill(pid)`` sends
    SIGKILL and waits until it is gone; ``notice(prefix)`` is the next line a child printed
    that starts with ``prefix`` (e.g. an edge's ``edge on http://...``)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._answers: asyncio.Queue[str] = asyncio.Queue()
        self._notices: asyncio.Queue[str] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            line = line.strip()
            queue = self._answers if line.startswith(("pid ", "reaped ")) else self._notices
            await queue.put(line)

    async def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        return await asyncio.wait_for(self._answers.get(), WAIT_S)

    async def spawn(self, *args: str) -> int:
        answer = await self._ask("spawn " + " ".join(args))
        return int(answer.removeprefix("pid "))

    async def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        answer = await self._ask(f"reap {pid}")
        assert answer.startswith(f"reaped {pid} "), answer

    async def notice(self, prefix: str) -> str:
        async with asyncio.timeout(WAIT_S):
            while not (line := await self._notices.get()).startswith(prefix):
                pass
        return line

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the zygote kills what is left and exits
        await asyncio.wait_for(self.proc.wait(), WAIT_S)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


@contextlib.asynccontextmanager
async def zygote(env: Mapping[str, str], log: Any) -> AsyncIterator[Zygote]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.faults.zygote",
        cwd=ROOT,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    z = Zygote(proc)
    try:
        yield z
    finally:
        await z.close()
