"""Publish a dead letter: the original payload, the reason, where it came from.

Headers carry the facts (``Deltastream-Reason``, ``Deltastream-Detail``,
``Deltastream-Subject``, ``Deltastream-Stream-Seq``); the body is the original payload,
byte for byte, so nothing is lost. ``Nats-Msg-Id`` is ``<stream>-<sequence>`` (FEED unless
said otherwise, then ``Deltastream-Stream`` names it), so a message dead-lettered again after
a restart is stored once.
"""

from __future__ import annotations

import nats.js

from actors import subjects

__all__ = ["DETAIL_MAX_CHARS", "dead_letter"]

DETAIL_MAX_CHARS = 1000


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
) -> None:
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
    await js.publish(subjects.dlq(_dlq_suffix(subject)), payload, headers=headers)


def _dlq_suffix(subject: str) -> str:
    # The DLQ subject mirrors the original one when it is a well-formed token list.
    tokens = subject.split(".")
    if all(t and t.isprintable() and " " not in t and t not in ("*", ">") for t in tokens):
        return subject
    return f"{subjects.PREFIX}.invalid"
