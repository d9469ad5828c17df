"""The MongoDB archive (motor): indexes and TTLs, idempotent batch writes, history pages.

Writes are unordered bulk inserts with ``w: "majority"``: the server tries every document,
and one that already exists (a redelivery, or a chain interval already archived) comes back
as a duplicate-key error (code 11000), which is success here. A document the server refuses
for good (bad value, too large, schema validation) is reported back so its message can be
dead-lettered; any other failure, and an unconfirmed write concern, raises
``ArchiveUnavailable`` and the caller retries the whole batch later (duplicates are free).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pymongo.errors
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, DESCENDING, WriteConcern

from actors.archive.documents import CHAINS, COLLECTIONS, SUMMARIES, UNDERLYING, PlannedDocument
from actors.archive.pages import HistoryItem, HistoryPage, HistoryRange
from actors.errors import DeltastreamError
from actors.settings import Settings

__all__ = ["ArchiveStore", "ArchiveUnavailable", "WriteOutcome", "mongo_client"]

DUPLICATE_KEY = 11000
# Refusals that a retry cannot fix: BadValue, DocumentValidationFailure, BSONObjectTooLarge.
PERMANENT_CODES = frozenset({2, 121, 10334})
INDEX_SUBJECT_SEQ = "subject_seq"
INDEX_SUBJECT_TS_SEQ = "subject_ts_seq"
INDEX_SUBJECT_BUCKET = "subject_bucket"
INDEX_TTL = "archived_at_ttl"
_SOCKET_TIMEOUT_FACTOR = 6  # a big batch may take longer than server selection
_encoder = msgspec.json.Encoder()


class ArchiveUnavailable(DeltastreamError):
    """MongoDB could not be reached, or did not confirm a write or read."""


def _describe(exc: BaseException) -> str:
    # pymongo appends the whole topology description to selection errors: keep the cause.
    text = " ".join(str(exc).split()).split(", Topology Description")[0]
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def mongo_client(settings: Settings, *, app_name: str) -> Any:
    """A motor client for ``settings.mongo_url``; it connects lazily, so this never blocks."""
    timeout_ms = int(settings.mongo_timeout_s * 1000)
    return AsyncIOMotorClient(
        settings.mongo_url,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms * _SOCKET_TIMEOUT_FACTOR,
    )


@dataclass
class WriteOutcome:
    stored: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    refused: dict[int, str] = field(default_factory=dict)  # index in the batch → reason


class ArchiveStore:
    def __init__(self, client: Any, *, database: str, ttl_s: Mapping[str, float]) -> None:
        self.client = client
        self.db = client[database]
        self.ttl_s = dict(ttl_s)
        concern = WriteConcern(w="majority")
        self._collections = {
            name: self.db.get_collection(name, write_concern=concern) for name in COLLECTIONS
        }

    @classmethod
    def from_settings(cls, settings: Settings, client: Any) -> ArchiveStore:
        return cls(
            client,
            database=settings.mongo_database,
            ttl_s={
                UNDERLYING: settings.archive_underlying_ttl_s,
                SUMMARIES: settings.archive_summary_ttl_s,
                CHAINS: settings.archive_chain_ttl_s,
            },
        )

    def collection(self, name: str) -> Any:
        return self._collections[name]

    async def ping(self) -> None:
        try:
            await self.client.admin.command("ping")
        except pymongo.errors.PyMongoError as exc:
            raise ArchiveUnavailable(_describe(exc)) from exc

    async def ensure_indexes(self) -> None:
        """Create the unique, query and TTL indexes (idempotent; a changed TTL is applied)."""
        try:
            for name, coll in self._collections.items():
                await coll.create_index(
                    [("subject", ASCENDING), ("seq", ASCENDING)],
                    unique=True,
                    name=INDEX_SUBJECT_SEQ,
                )
                await coll.create_index(
                    [("subject", ASCENDING), ("ts", DESCENDING), ("seq", DESCENDING)],
                    name=INDEX_SUBJECT_TS_SEQ,
                )
                if name == CHAINS:
                    await coll.create_index(
                        [("subject", ASCENDING), ("bucket_ns", ASCENDING)],
                        unique=True,
                        name=INDEX_SUBJECT_BUCKET,
                    )
                await self._ensure_ttl(name, coll)
        except pymongo.errors.PyMongoError as exc:
            raise ArchiveUnavailable(_describe(exc)) from exc

    async def _ensure_ttl(self, name: str, coll: Any) -> None:
        existing = (await coll.index_information()).get(INDEX_TTL)
        ttl = int(self.ttl_s[name])
        if ttl <= 0:
            if existing is not None:
                await coll.drop_index(INDEX_TTL)
            return
        if existing is None:
            await coll.create_index(
                [("archived_at", ASCENDING)], expireAfterSeconds=ttl, name=INDEX_TTL
            )
        elif existing.get("expireAfterSeconds") != ttl:
            # createIndex refuses to change options of an existing index; collMod does it.
            await self.db.command(
                {"collMod": name, "index": {"name": INDEX_TTL, "expireAfterSeconds": ttl}}
            )

    async def write(self, planned: Sequence[PlannedDocument]) -> WriteOutcome:
        """Insert a batch; duplicates are success. Raises ``ArchiveUnavailable``."""
        outcome = WriteOutcome()
        by_collection: dict[str, list[int]] = {}
        for i, p in enumerate(planned):
            by_collection.setdefault(p.collection, []).append(i)
        for name, indexes in by_collection.items():
            docs = [planned[i].document for i in indexes]
            duplicates = 0
            try:
                await self._collections[name].insert_many(docs, ordered=False)
            except pymongo.errors.BulkWriteError as exc:
                details = exc.details
                if details.get("writeConcernErrors"):
                    raise ArchiveUnavailable("the write concern was not satisfied") from exc
                for err in details.get("writeErrors", []):
                    code, at = err.get("code"), indexes[err["index"]]
                    if code == DUPLICATE_KEY:
                        duplicates += 1
                    elif code in PERMANENT_CODES:
                        outcome.refused[at] = (
                            f"MongoDB refused the document ({code}): "
                            + str(err.get("errmsg", ""))[:300]
                        )
                    else:
                        raise ArchiveUnavailable(
                            f"write error {code}: {err.get('errmsg')}"
                        ) from exc
            except pymongo.errors.PyMongoError as exc:
                raise ArchiveUnavailable(_describe(exc)) from exc
            refused_here = sum(1 for i in indexes if i in outcome.refused)
            outcome.stored[name] = len(docs) - duplicates - refused_here
            outcome.duplicates[name] = duplicates
        return outcome

    async def page(self, collection: str, r: HistoryRange) -> HistoryPage:
        """One history page of ``r.subject`` from ``collection``, newest first."""
        query: dict[str, Any] = {"subject": r.subject}
        for key, lo, hi in (("ts", r.from_ns, r.to_ns), ("seq", r.from_seq, r.to_seq)):
            bounds = {op: v for op, v in (("$gte", lo), ("$lt", hi)) if v is not None}
            if bounds:
                query[key] = bounds
        if r.before is not None:
            query["$or"] = [
                {"ts": {"$lt": r.before.ts}},
                {"ts": r.before.ts, "seq": {"$lt": r.before.seq}},
            ]
        try:
            cursor = (
                self._collections[collection]
                .find(query, {"_id": 0, "ts": 1, "seq": 1, "doc": 1})
                .sort([("ts", DESCENDING), ("seq", DESCENDING)])
                .limit(r.limit + 1)
            )
            docs = await cursor.to_list(length=r.limit + 1)
        except pymongo.errors.PyMongoError as exc:
            raise ArchiveUnavailable(_describe(exc)) from exc
        items = [HistoryItem(d["ts"], d["seq"], _encoder.encode(d["doc"])) for d in docs]
        return HistoryPage.of(items, r.limit)

    def close(self) -> None:
        self.client.close()
