"""A continuous pull from a durable JetStream consumer: messages as they arrive, in order,
handed over in batches of whatever is waiting.

nats-py's ``fetch(n)`` waits for all ``n`` messages or its time-out once it has to wait, so
a trickle of feed messages would sit in it for the whole time-out. Here pull requests are
kept outstanding (a new one whenever less than half a batch is requested or queued here, or
one expired) and every delivered message goes straight to a local queue; ``next_batch``
returns what is queued. The local queue stays below one and a half batches: a delivered
message's ``ack_wait`` is running, so a backlog waits on the server, not here. No request is
made while ``active()`` is false (the host may have lost the partition).
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg

from actors.wakeup import Wakeup

__all__ = ["ContinuousPull", "delivery"]

_STATUS = "Status"
_REQUEST_EXPIRES_S = 5.0


class ContinuousPull:
    def __init__(
        self,
        nc: Any,
        *,
        stream: str,
        consumer: str,
        batch: int,
        active: Callable[[], bool] | None = None,
    ) -> None:
        self._nc = nc
        self._active = active
        self._next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._batch = batch
        self._credit = 0
        self._queue: deque[Msg] = deque()
        self._arrived = Wakeup()
        self._sub: Any = None
        self._inbox = ""
        self._requested_at = 0.0
        self._reconnects = 0

    async def start(self) -> None:
        self._inbox = self._nc.new_inbox()
        self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg, pending_msgs_limit=-1)
        await self._request()

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _request(self) -> None:
        # The server keeps each request for up to `expires`; asking again before the
        # credit runs out keeps messages flowing without a round trip per batch.
        if self._sub is None or (self._active is not None and not self._active()):
            self._requested_at = 0.0  # ask again at the next idle time-out
            return
        body = {"batch": self._batch, "expires": int(_REQUEST_EXPIRES_S * 1e9)}
        self._credit += self._batch
        self._requested_at = time.monotonic()
        self._reconnects = self._nc.stats["reconnects"]
        await self._nc.publish(self._next_subject, json.dumps(body).encode(), reply=self._inbox)

    async def _on_msg(self, msg: Msg) -> None:
        status = (msg.headers or {}).get(_STATUS)
        if status:
            # 404 no messages / 408 request expired / 409 e.g. too many requests: that
            # request's credit is gone. Ask again (the server caps waiting requests).
            if status in ("408", "409", "404"):
                self._credit = 0
                await self._request()
            return
        self._credit -= 1
        self._queue.append(msg)
        self._arrived.set()
        await self._top_up()

    async def _top_up(self) -> None:
        # Ask for more only while little is queued here as well: what the ingress has not
        # taken yet already runs down its ack_wait, so a burst must wait on the server.
        if self._credit + len(self._queue) <= self._batch // 2:
            await self._request()

    async def next_batch(self, max_n: int, *, timeout_s: float) -> list[Msg]:
        """Up to ``max_n`` queued messages, waiting up to ``timeout_s`` for the first one;
        an empty list on time-out (and a fresh request if the last one may have been lost,
        e.g. across a reconnect)."""
        if not self._queue:
            self._arrived.clear()
            if not await self._arrived.wait(timeout_s):
                # A request may have been lost: it expired, or the connection broke (a
                # restarted server knows none of this client's requests).
                expired = time.monotonic() - self._requested_at > _REQUEST_EXPIRES_S
                if expired or self._nc.stats["reconnects"] != self._reconnects:
                    self._credit = 0
                    await self._request()
                return []
        n = min(max_n, len(self._queue))
        batch = [self._queue.popleft() for _ in range(n)]
        await self._top_up()
        return batch


def delivery(msg: Msg) -> tuple[int, int]:
    """(stream sequence, times delivered) of a JetStream message, read straight off its ack
    subject: nats-py's ``metadata`` builds four objects and a datetime per message for the
    two numbers the ingress needs. The subject is ``$JS.ACK.<stream>.<consumer>.<delivered>.
    <stream seq>.<consumer seq>.<ts>.<pending>``, with a domain and an account hash after
    ``ACK`` (and a token at the end) in the newer form; any other shape goes to nats-py."""
    tokens = (msg.reply or "").split(".")
    n = len(tokens)
    at = 4 if n == 9 else 6 if n >= 12 else 0
    if at and tokens[0] == "$JS" and tokens[1] == "ACK":
        try:
            return int(tokens[at + 1]), int(tokens[at])
        except ValueError:
            pass
    meta = msg.metadata
    return meta.sequence.stream, meta.num_delivered
