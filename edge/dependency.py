"""An optional backing service (Redis, MongoDB) as this edge sees it: ok, or degraded with the
reason, and back to ok by itself.

A failed call marks it degraded; callers then skip it (no cache, local limits, history from
the stream) instead of paying its time-out on every request. While degraded, a probe runs
every ``retry_s``; the first probe that succeeds makes it ok again. ``/health`` shows
``check()``; a gauge mirrors it for Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from prometheus_client import Gauge

from actors.errors import DeltastreamError

__all__ = ["Dependency", "describe_failure"]

log = structlog.get_logger(__name__)

MAX_REASON_CHARS = 200
PROBE_TIMEOUT_S = 10.0


def describe_failure(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:MAX_REASON_CHARS]
    if isinstance(exc, DeltastreamError) and text:
        return text  # already says what failed
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Dependency:
    def __init__(
        self,
        name: str,
        *,
        probe: Callable[[], Awaitable[Any]],
        retry_s: float,
        gauge: Gauge | None = None,
        consequence: str = "",
    ) -> None:
        self.name = name
        self.consequence = consequence
        self._probe = probe
        self._retry_s = retry_s
        self._gauge = gauge
        self.ok = True
        self.reason = ""
        self.since = dt.datetime.now(dt.UTC)
        self._task: asyncio.Task[None] | None = None
        self._set_gauge()

    def usable(self) -> bool:
        return self.ok

    def failed(self, exc: BaseException) -> None:
        self._degrade(exc)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._recover(), name=f"probe-{self.name}")

    def _degrade(self, exc: BaseException) -> None:
        reason = describe_failure(exc)
        if self.ok:
            self.ok = False
            self.since = dt.datetime.now(dt.UTC)
            log.warning("dependency_degraded", dependency=self.name, reason=reason)
            self._set_gauge()
        self.reason = reason

    def check(self) -> dict[str, Any]:
        if self.ok:
            return {"ok": True, "detail": "ok"}
        since = self.since.isoformat(timespec="seconds").replace("+00:00", "Z")
        detail = f"degraded: {self.reason} (since {since})"
        if self.consequence:
            detail += f"; {self.consequence}"
        return {"ok": True, "detail": detail}

    async def start(self) -> None:
        """Probe once in the background, so an edge started while it is down says so."""
        self._task = asyncio.create_task(self._first_probe(), name=f"probe-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _first_probe(self) -> None:
        try:
            await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_S)
        except Exception as exc:  # any failure of the probe means: not usable
            self._degrade(exc)
            await self._recover()

    async def _recover(self) -> None:
        while not self.ok:
            await asyncio.sleep(self._retry_s)
            try:
                await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_S)
            except Exception as exc:  # keep probing whatever the failure
                self.reason = describe_failure(exc)
                continue
            self.ok = True
            self._set_gauge()
            log.info("dependency_recovered", dependency=self.name)

    def _set_gauge(self) -> None:
        if self._gauge is not None:
            self._gauge.set(1 if self.ok else 0)
