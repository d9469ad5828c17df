"""Publish a dead letter: the original payload, the reason, where it came from.

Headers carry the facts (``Deltastream-Reason``, ``Deltastream-Detail``,
``Deltastream-Subject``, ``Deltastream-Stream-Seq``); the body is the original payload,
byte for byte, so nothing is lost. ``Nats-Msg-Id`` is ``<stream>-<sequence>`` (FEED unless
said otherwise, then ``Deltastream-Stream`` names it), so a message dead-lettered again after
a restart is stored once.

What NATS itself cannot carry is cut to fit rather than sent: nats-server closes a connection
that publishes more than its ``max_payload`` (headers and body together) or a subject longer
than its control line, and a dead letter resent on every restart would take the host down
each time. A body too large next to the headers keeps its first bytes, with
``Deltastream-Truncated`` = its full length (the whole message stays in its stream at
``Deltastream-Stream-Seq`` for as long as the stream keeps it); a subject too long for the
DLQ's mirrored name goes to ``deltastream.dlq.invalid``.
"""

from __future__ import annotations

import nats.js

from actors import subjects

__all__ = ["DEFAULT_MAX_PAYLOAD", "DETAIL_MAX_CHARS", "SUBJECT_MAX_CHARS", "dead_letter"]

DETAIL_MAX_CHARS = 1000
# A mirrored DLQ subject longer than this goes to ``deltastream.dlq.invalid``: far below
# nats-server's 4 KiB control line, which also holds the reply inbox and the sizes.
SUBJECT_MAX_CHARS = 512
DEFAULT_MAX_PAYLOAD = 1024 * 1024  # nats-server's default
_HEADER_ROOM = 8 * 1024  # the headers here stay far below this (two fields cut to 1,000)


def _header_safe(text: str) -> str:
    return " ".join(text.split())[:DETAIL_MAX_CHARS]


async def dead_letter(
    js: nats.js.JetStreamContext,
    *,
    subject: str,
    payload: bytes,
    reason: str,
    detail: str,
    stream_seq: int | None,
    stream: str = subjects.FEED_STREAM,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> None:
    """``max_payload``: the server's, as its client was told (``nc.max_payload``)."""
    headers = {
        "Deltastream-Reason": reason,
        "Deltastream-Detail": _header_safe(detail),
        "Deltastream-Subject": _header_safe(subject),
    }
    if stream_seq is not None:
        headers["Deltastream-Stream-Seq"] = str(stream_seq)
        headers["Nats-Msg-Id"] = f"{stream}-{stream_seq}"
        if stream != subjects.FEED_STREAM:
            headers["Deltastream-Stream"] = stream
    room = max(0, max_payload - _HEADER_ROOM)
    if len(payload) > room:
        headers["Deltastream-Truncated"] = str(len(payload))
        payload = payload[:room]
    await js.publish(subjects.dlq(_dlq_suffix(subject)), payload, headers=headers)


def _dlq_suffix(subject: str) -> str:
    # The DLQ subject mirrors the original one when it is a well-formed token list.
    tokens = subject.split(".")
    if len(subject) <= SUBJECT_MAX_CHARS and all(
        t and t.isprintable() and " " not in t and t not in ("*", ">") for t in tokens
    ):
        return subject
    return f"{subjects.PREFIX}.invalid"
