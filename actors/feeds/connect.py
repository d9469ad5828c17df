"""Connect a command-line client (a feed, a recorder, the log tail) to NATS: one attempt
first, so a wrong or unreachable URL is said at once in one line, then a connection that
keeps reconnecting for as long as the command runs.

nats-py retries even the first connection as often as reconnects are allowed, so with the
unlimited reconnects a feed wants, a bad URL would retry forever, printing a traceback each
time, and Ctrl-C would find nothing listening for it.
"""

from __future__ import annotations

from typing import Any

import nats
import nats.errors

from actors.settings import nats_servers

__all__ = ["CONNECT_TIMEOUT_S", "NatsUnreachable", "connect"]

CONNECT_TIMEOUT_S = 5.0


class NatsUnreachable(Exception):
    """No NATS server answered at the URL given (the message names it)."""


async def _quiet(exc: Exception) -> None:
    return None  # the one-line NatsUnreachable says it; no traceback per attempt


async def connect(nats_url: str, *, name: str, **options: Any) -> Any:
    """A client connection to ``nats_url`` (comma-separated for a cluster) with unlimited
    reconnects unless ``options`` say otherwise; ``NatsUnreachable`` when the first attempt
    fails."""
    servers = nats_servers(nats_url)
    try:
        probe = await nats.connect(
            servers,
            allow_reconnect=False,
            max_reconnect_attempts=1,  # nats-py also retries the first connect up to this
            reconnect_time_wait=0.2,
            connect_timeout=CONNECT_TIMEOUT_S,
            error_cb=_quiet,
        )
        await probe.close()
    except (TimeoutError, OSError, ValueError, nats.errors.Error) as exc:
        raise NatsUnreachable(f"cannot reach NATS at {nats_url}") from exc
    return await nats.connect(servers, name=name, **{"max_reconnect_attempts": -1, **options})
