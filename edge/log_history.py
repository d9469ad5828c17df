"""Recent log events from the LOGS stream, newest first, at or above a level (read-only).

JetStream delivers forward only, so the read walks back from the end of the stream in
windows of sequence numbers that double each time (an ephemeral ack-less consumer per
window, filtered on the service's subject), until ``limit`` events matched or
``max_scan`` stream messages were looked at. The stream interleaves every service, so a
quiet service or a rare level may need several windows; ``max_scan`` bounds the work.
Messages that are not JSON objects with string ``event`` and ``level`` (anyone may publish
on ``deltastream.logs.*``) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
import nats.js.errors

from actors import subjects
from actors.log_events import level_rank
from actors.stream_reads import read_range
from edge.errors import Unavailable, UpstreamTimeout

__all__ = ["DEFAULT_MAX_SCAN", "LogPage", "recent_logs"]

DEFAULT_MAX_SCAN = 50_000
_FIRST_WINDOW = 256


@dataclass(frozen=True)
class LogPage:
    events: list[dict[str, Any]]  # newest first
    last_seq: int  # the stream's last sequence when the read began (follow from here + 1)


def _decode(raw: bytes) -> dict[str, Any] | None:
    try:
        event = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(event, dict):
        return None
    if not isinstance(event.get("event"), str) or not isinstance(event.get("level"), str):
        return None
    return event


async def recent_logs(
    js: Any,
    *,
    service: str | None,
    min_level: str = "debug",
    limit: int = 100,
    max_scan: int = DEFAULT_MAX_SCAN,
) -> LogPage:
    """Up to ``limit`` events of ``service`` (every service when None), newest first."""
    subject = subjects.logs(service) if service else subjects.LOGS_WILDCARD
    floor = level_rank(min_level)
    try:
        info = await js.stream_info(subjects.LOGS_STREAM)
        first, last = int(info.state.first_seq), int(info.state.last_seq)
        found: list[dict[str, Any]] = []
        hi, window, scanned = last, max(_FIRST_WINDOW, 2 * limit), 0
        while hi >= max(first, 1) and len(found) < limit and scanned < max_scan:
            lo = max(first, 1, hi - window + 1)
            chunk: list[dict[str, Any]] = []
            async for msg in read_range(
                js,
                stream=subjects.LOGS_STREAM,
                filter_subjects=[subject],
                first_seq=lo,
                last_seq=hi,
            ):
                event = _decode(msg.data)
                if event is not None and level_rank(event.get("level")) >= floor:
                    chunk.append(event)
            found.extend(reversed(chunk))
            scanned += hi - lo + 1
            hi, window = lo - 1, window * 2
    except nats.js.errors.NotFoundError as exc:
        raise Unavailable("the LOGS stream does not exist yet") from exc
    except nats.errors.TimeoutError as exc:
        raise UpstreamTimeout("reading the LOGS stream timed out") from exc
    except (nats.errors.ConnectionClosedError, nats.errors.NoRespondersError) as exc:
        raise Unavailable("JetStream is not reachable") from exc
    return LogPage(events=found[:limit], last_seq=last)
