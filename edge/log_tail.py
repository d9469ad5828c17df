"""``deltastream logs``: print recent log events from LOGS as plain lines, then follow.

One line per event, oldest first::

    2026-11-26T09:15:02.120Z WARNING  actors@host-1 feed_rejected reason=crossed_quote product=NIFTY

The follow starts right after the last message the history read saw (an ordered consumer
from that stream sequence), so no event falls between the two. A multi-line exception is
printed indented under its line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
from nats.js.api import ConsumerConfig, DeliverPolicy

from actors import subjects
from actors.feeds.connect import NatsUnreachable, connect
from actors.log_events import level_rank
from edge.errors import EdgeError
from edge.log_history import recent_logs

__all__ = ["TailError", "format_event", "tail_logs"]

_SHOWN_FIRST = ("timestamp", "level", "service", "host", "event", "exception")
_HIDDEN = frozenset({*_SHOWN_FIRST, "pid", "logger"})


class TailError(Exception):
    """Why the tail could not start (said to the user in one line)."""


async def _quiet(exc: Exception) -> None:
    return None


def _value(value: Any) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return msgspec.json.encode(value).decode()


def format_event(event: dict[str, Any]) -> str:
    """One event as a readable line (an exception's traceback indented below it). Control
    characters are shown escaped: anything may publish to LOGS, and an escape sequence
    printed raw would act on the reader's terminal."""
    level = str(event.get("level", "?")).upper()
    who = str(event.get("service", "?"))
    if event.get("host"):
        who += f"@{event['host']}"
    facts = " ".join(f"{k}={_value(v)}" for k, v in event.items() if k not in _HIDDEN)
    line = f"{event.get('timestamp', '-')} {level:<8} {who} {event.get('event', '')}"
    line = _printable(f"{line} {facts}" if facts else line)
    exception = event.get("exception")
    if isinstance(exception, str) and exception:
        line += "\n" + "\n".join("    " + _printable(part) for part in exception.splitlines())
    return line


def _printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


async def tail_logs(
    nats_url: str,
    *,
    service: str | None,
    min_level: str,
    limit: int,
    follow: bool,
    stop: asyncio.Event,
    write: Callable[[str], None],
) -> int:
    """Print up to ``limit`` recent events, then (``follow``) new ones until ``stop``.
    Returns how many were printed; raises ``TailError`` when NATS or LOGS is missing."""
    try:
        nc = await connect(nats_url, name="deltastream-logs-tail", error_cb=_quiet)
    except NatsUnreachable as exc:
        raise TailError(str(exc)) from exc
    printed = 0
    try:
        js = nc.jetstream()
        try:
            page = await recent_logs(js, service=service, min_level=min_level, limit=limit)
        except EdgeError as exc:
            raise TailError(f"{exc.detail} (at {nats_url})") from exc
        for event in reversed(page.events):
            write(format_event(event))
            printed += 1
        if not follow:
            return printed
        floor = level_rank(min_level)
        queue: asyncio.Queue[bytes] = asyncio.Queue()

        async def on_msg(msg: Any) -> None:
            queue.put_nowait(msg.data)

        sub = await js.subscribe(
            subjects.logs(service) if service else subjects.LOGS_WILDCARD,
            stream=subjects.LOGS_STREAM,
            cb=on_msg,
            ordered_consumer=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=page.last_seq + 1
            ),
        )
        stopped = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                got = asyncio.create_task(queue.get())
                await asyncio.wait({got, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not got.done():
                    got.cancel()
                    break
                try:
                    event = msgspec.json.decode(got.result())
                except msgspec.DecodeError:
                    continue
                if isinstance(event, dict) and level_rank(event.get("level")) >= floor:
                    write(format_event(event))
                    printed += 1
        finally:
            stopped.cancel()
            await sub.unsubscribe()
        return printed
    finally:
        await nc.close()
