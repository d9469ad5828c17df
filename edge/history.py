"""Recent history of one analytics subject, read from the ANALYTICS stream (read-only).

The stream keeps ``analytics_history_per_subject`` messages per subject (2000 by default).
JetStream has no "last N of a subject" delivery, so an ephemeral, ack-less pull consumer
filtered on the subject reads its messages oldest first and a bounded deque keeps the last N;
the consumer is deleted afterwards (and expires by itself if this edge dies mid-read).
"""

from __future__ import annotations

import collections
from typing import Any

import nats.errors
import nats.js.errors

from actors import subjects
from actors.streams import last_on_subject, read_range
from edge.errors import Unavailable, UpstreamTimeout

__all__ = ["AnalyticsHistory"]

_ALL_SEQ = 2**63 - 1


class AnalyticsHistory:
    def __init__(self, js: Any) -> None:
        self._js = js

    async def latest(self, subject: str, limit: int) -> list[bytes]:
        """The newest ``limit`` payloads on ``subject``, newest first."""
        kept: collections.deque[bytes] = collections.deque(maxlen=limit)
        try:
            async for msg in read_range(
                self._js,
                stream=subjects.ANALYTICS_STREAM,
                filter_subjects=[subject],
                first_seq=1,
                last_seq=_ALL_SEQ,
            ):
                kept.append(bytes(msg.data))
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading analytics history timed out") from exc
        except nats.js.errors.NotFoundError as exc:
            raise Unavailable("the ANALYTICS stream does not exist") from exc
        except (nats.errors.ConnectionClosedError, nats.errors.NoRespondersError) as exc:
            raise Unavailable("JetStream is not reachable") from exc
        kept.reverse()
        return list(kept)

    async def last(self, subject: str) -> bytes | None:
        """The newest payload on ``subject`` (a direct get), or None."""
        try:
            return await last_on_subject(self._js, subjects.ANALYTICS_STREAM, subject)
        except nats.errors.TimeoutError as exc:
            raise UpstreamTimeout("reading the analytics stream timed out") from exc
        except (nats.errors.ConnectionClosedError, nats.errors.NoRespondersError) as exc:
            raise Unavailable("JetStream is not reachable") from exc
