"""A start-up step against JetStream, tried again while JetStream is not answering yet.

Right after a server starts, or while a cluster elects the leader of a stream just created,
JetStream answers nothing (no responders, a time-out, 503). A service starting then would
exit on its first request; the actor host and the edge instead retry each start-up step with
a growing pause for up to ``JETSTREAM_READY_S``, and fail on any other error at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import nats.errors
import nats.js.errors
import structlog

__all__ = ["JETSTREAM_READY_S", "when_ready"]

log = structlog.get_logger(__name__)

_T = TypeVar("_T")

# How long start-up waits for JetStream to answer (a cluster still electing its leaders, a
# server busy restoring its streams) before the service gives up and exits.
JETSTREAM_READY_S = 60.0
_NOT_READY = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.js.errors.ServiceUnavailableError,
    # A publish into a stream with no leader yet (e.g. a KV bucket's first write).
    nats.js.errors.NoStreamResponseError,
)


async def when_ready(step: str, make: Callable[[], Awaitable[_T]]) -> _T:
    """``make()``, called again while JetStream is not answering, for up to
    ``JETSTREAM_READY_S``; ``step`` names it in the log."""
    deadline = time.monotonic() + JETSTREAM_READY_S
    delay = 0.25
    while True:
        try:
            return await make()
        except _NOT_READY as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("jetstream_not_ready", step=step, error=type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
