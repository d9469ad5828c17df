"""ANALYTICS → Socket.IO: a core NATS subscription on ``deltastream.analytics.>`` fanned out
to rooms.

Every edge subscribes for itself (no queue group), so edges scale out without a shared
socket manager. Subject → event and rooms::

    analytics.underlying.<P>        underlying_update   product:<P>, general
    analytics.summary.<P>.<E>       chain_summary       chain:<P>, chain:<P>:<E>
    analytics.chain.<P>.<E>         chain_update        chain:<P>, chain:<P>:<E>
    analytics.surface.<P>           surface_update      product:<P>
    analytics.ohlc.<P>.<I>          (not forwarded: REST serves bars)

The payload is checked to be JSON (it is embedded verbatim into the Socket.IO frame) but not
decoded into objects: the edge holds no analytics.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import structlog

from actors import subjects
from edge.metrics import EdgeMetrics
from edge.sockets import SocketHub

__all__ = ["Bridge", "route"]

log = structlog.get_logger(__name__)

ANALYTICS_WILDCARD = f"{subjects.PREFIX}.analytics.>"
# A slow consumer (the loop busy) must not cost the connection: nats-py drops messages past
# these limits and reports it, and the next analytics message supersedes the lost one.
PENDING_MSGS_LIMIT = 65_536
PENDING_BYTES_LIMIT = 256 * 1024 * 1024
_KINDS = frozenset({"underlying", "summary", "chain", "surface", "ohlc"})  # bounded labels
_TIMED_KINDS = frozenset({"underlying", "summary"})  # small payloads, one per feed message


class _Stamp(msgspec.Struct):
    ts: int  # the feed message's producer clock, epoch ns (other fields are skipped)


_stamp_decoder = msgspec.json.Decoder(_Stamp)


def route(subject: str) -> tuple[str, tuple[str, ...], str] | None:
    """(event, rooms, own room) for an analytics subject, or None when not forwarded."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != subjects.PREFIX or parts[1] != "analytics":
        return None
    kind, product = parts[2], parts[3]
    if kind == "underlying" and len(parts) == 4:
        own = f"product:{product}"
        return "underlying_update", (own, "general"), own
    if kind == "surface" and len(parts) == 4:
        own = f"product:{product}"
        return "surface_update", (own,), own
    if kind in ("summary", "chain") and len(parts) == 5:
        own = f"chain:{product}:{parts[4]}"
        event = "chain_summary" if kind == "summary" else "chain_update"
        return event, (f"chain:{product}", own), own
    return None


class Bridge:
    def __init__(self, nc: Any, hub: SocketHub, metrics: EdgeMetrics) -> None:
        self._nc = nc
        self._hub = hub
        self._metrics = metrics
        self._sub: Any = None

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(
            ANALYTICS_WILDCARD,
            cb=self._on_message,
            pending_msgs_limit=PENDING_MSGS_LIMIT,
            pending_bytes_limit=PENDING_BYTES_LIMIT,
        )

    async def stop(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_message(self, msg: Any) -> None:
        target = route(msg.subject)
        parts = msg.subject.split(".", 3)
        kind = parts[2] if len(parts) > 2 and parts[2] in _KINDS else "other"
        self._metrics.messages_in.labels(kind).inc()
        if kind in _TIMED_KINDS:
            self._observe_latency(kind, msg.data)
        if target is None:
            return
        event, rooms, own = target
        if not any(room in self._hub.rooms for room in rooms):
            return  # nobody listens: skip even the JSON check
        try:
            msgspec.json.decode(msg.data)
            payload = msg.data.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            self._metrics.messages_invalid.inc()
            log.warning("analytics_message_invalid", subject=msg.subject, size=len(msg.data))
            return
        self._hub.publish(event, rooms, own, payload)

    def _observe_latency(self, kind: str, data: bytes) -> None:
        try:
            ts_ns = _stamp_decoder.decode(data).ts
        except msgspec.DecodeError:
            return  # counted as invalid below when somebody listens
        self._metrics.feed_latency.labels(kind).observe(max(0, time.time_ns() - ts_ns) / 1e9)
