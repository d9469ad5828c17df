"""From an ANALYTICS message to the MongoDB document that archives it.

One collection per kind: ``underlying`` (every enriched tick), ``summaries`` (every chain
summary) and ``chains`` (enriched chains, the first one of each
``DELTASTREAM_ARCHIVE_CHAIN_INTERVAL_S`` interval of their ``ts`` per product/expiry). A
document is::

    {"subject", "seq" (ANALYTICS stream sequence), "product", "expiry" (summaries, chains),
     "ts" (epoch ns, the message's clock), "archived_at" (UTC datetime, for the TTL),
     "bucket_ns" (chains: start of the interval), "doc": the message as published}

``(subject, seq)`` is unique in every collection and ``(subject, bucket_ns)`` in ``chains``,
so a redelivered message, or a second chain in an interval that is already archived, is
refused by the server as a duplicate key: archiving is idempotent without any state here.
The in-memory last-interval table only saves sending chains the server would refuse.
"""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass
from typing import Any

import bson
import msgspec

from actors import subjects
from actors.errors import DeltastreamError
from actors.messages import EnrichedChain, Summary, UnderlyingTick

__all__ = [
    "CHAINS",
    "COLLECTIONS",
    "SUMMARIES",
    "UNDERLYING",
    "ArchiveRejected",
    "DocumentMapper",
    "PlannedDocument",
    "collection_for",
]

UNDERLYING = "underlying"
SUMMARIES = "summaries"
CHAINS = "chains"
COLLECTIONS = (UNDERLYING, SUMMARIES, CHAINS)
_COLLECTION_BY_KIND = {"underlying": UNDERLYING, "summary": SUMMARIES, "chain": CHAINS}
_TYPES: dict[str, type[msgspec.Struct]] = {
    "underlying": UnderlyingTick,
    "summary": Summary,
    "chain": EnrichedChain,
}
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024  # MongoDB's BSON document limit
MAX_TRACKED_CHAINS = 10_000


class ArchiveRejected(DeltastreamError):
    """A message that can never be archived (it goes to the DLQ with ``reason``)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class _Head(msgspec.Struct, frozen=True):
    ts: int
    product: str
    expiry: str | None = None


_head_decoder = msgspec.json.Decoder(_Head)


def collection_for(subject: str) -> str | None:
    """The collection that archives ``subject``, or None when it is not archived."""
    parsed = subjects.parse_analytics_subject(subject)
    return None if parsed is None else _COLLECTION_BY_KIND.get(parsed.kind)


@dataclass(frozen=True, slots=True)
class PlannedDocument:
    collection: str
    document: dict[str, Any]


class DocumentMapper:
    """Maps messages to documents; remembers the last archived chain interval per subject."""

    def __init__(self, *, chain_interval_s: float) -> None:
        self.chain_interval_ns = int(chain_interval_s * 1e9)
        self._last_bucket: collections.OrderedDict[str, int] = collections.OrderedDict()

    def plan(
        self, subject: str, seq: int, data: bytes, *, archived_at: dt.datetime
    ) -> PlannedDocument | None:
        """The document for one message; None when downsampling skips it. Raises
        ``ArchiveRejected`` for a message that is malformed or too big to store."""
        parsed = subjects.parse_analytics_subject(subject)
        if parsed is None or parsed.kind not in _COLLECTION_BY_KIND:
            raise ArchiveRejected("archive_subject", f"{subject!r} is not an archived subject")
        try:
            head = _head_decoder.decode(data)
        except msgspec.DecodeError as exc:
            raise ArchiveRejected("schema_invalid", str(exc)) from exc
        if head.product != parsed.product or head.expiry != parsed.expiry:
            raise ArchiveRejected(
                "subject_mismatch",
                f"payload {head.product}/{head.expiry} differs from subject {subject}",
            )
        document: dict[str, Any] = {"subject": subject, "seq": seq, "product": head.product}
        if parsed.expiry is not None:
            document["expiry"] = parsed.expiry
        document["ts"] = head.ts
        document["archived_at"] = archived_at
        if parsed.kind == "chain":
            bucket = head.ts - head.ts % self.chain_interval_ns
            if bucket <= self._last_bucket.get(subject, -1):
                return None
            document["bucket_ns"] = bucket
        try:
            msgspec.json.decode(data, type=_TYPES[parsed.kind])
            document["doc"] = msgspec.json.decode(data)
            size = len(bson.encode(document))
        except msgspec.DecodeError as exc:
            raise ArchiveRejected("schema_invalid", str(exc)) from exc
        except (bson.errors.InvalidDocument, OverflowError) as exc:
            raise ArchiveRejected("archive_unstorable", str(exc)) from exc
        if size > MAX_DOCUMENT_BYTES:
            raise ArchiveRejected(
                "archive_unstorable", f"{size} bytes is above MongoDB's document limit"
            )
        if parsed.kind == "chain":
            self._remember(subject, document["bucket_ns"])
        return PlannedDocument(_COLLECTION_BY_KIND[parsed.kind], document)

    def _remember(self, subject: str, bucket: int) -> None:
        self._last_bucket[subject] = bucket
        self._last_bucket.move_to_end(subject)
        while len(self._last_bucket) > MAX_TRACKED_CHAINS:
            self._last_bucket.popitem(last=False)
