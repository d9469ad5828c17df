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
decoded into objects: the edge holds no analytics. Summary and underlying messages are also
kept in ``LatestMessages`` (``edge.latest``), from which snapshot reads are answered.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import msgspec
import nats.errors
import structlog

from actors import subjects
from edge.latest import LatestMessages
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
# Events whose message is exactly what the actors answer to a snapshot request.
_LATEST_EVENTS = frozenset({"chain_summary", "underlying_update"})
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
    def __init__(
        self,
        nc: Any,
        hub: SocketHub,
        metrics: EdgeMetrics,
        latest: LatestMessages | None = None,
    ) -> None:
        self._nc = nc
        self._hub = hub
        self._metrics = metrics
        self._latest = latest
        self._sub: Any = None
        self._counted: dict[str, Any] = {}  # kind → its messages_in counter child

    async def start(self) -> None:
        self._sub = await self._nc.subscribe(
            ANALYTICS_WILDCARD,
            cb=self._on_message,
            pending_msgs_limit=PENDING_MSGS_LIMIT,
            pending_bytes_limit=PENDING_BYTES_LIMIT,
        )

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            # A connection already closed took the subscription with it: nothing to undo,
            # and the shutdown must go on.
            with contextlib.suppress(nats.errors.ConnectionClosedError):
                await sub.unsubscribe()

    async def _on_message(self, msg: Any) -> None:
        subject: str = msg.subject
        target = route(subject)
        parts = subject.split(".", 3)
        kind = parts[2] if len(parts) > 2 and parts[2] in _KINDS else "other"
        counter = self._counted.get(kind)
        if counter is None:
            counter = self._counted[kind] = self._metrics.messages_in.labels(kind)
        counter.inc()
        if kind in _TIMED_KINDS:
            self._observe_latency(kind, msg.data)
        if target is None:
            return
        event, rooms, own = target
        keep = self._latest is not None and event in _LATEST_EVENTS
        listened = any(room in self._hub.rooms for room in rooms)
        if not (keep or listened):
            return  # nobody listens: skip even the JSON check
        data: bytes = msg.data
        try:
            msgspec.json.decode(data)
            payload = data.decode()
        except (msgspec.DecodeError, UnicodeDecodeError):
            self._metrics.messages_invalid.inc()
            log.warning("analytics_message_invalid", subject=subject, size=len(data))
            return
        if keep:
            assert self._latest is not None
            self._latest.put(subject, data)
        if listened:
            self._hub.publish(event, rooms, own, payload)

    def _observe_latency(self, kind: str, data: bytes) -> None:
        try:
            ts_ns = _stamp_decoder.decode(data).ts
        except msgspec.DecodeError:
            return  # counted as invalid below when it is kept or somebody listens
        self._metrics.feed_latency.labels(kind).observe(max(0, time.time_ns() - ts_ns) / 1e9)
