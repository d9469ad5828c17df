"""Every NATS subject, stream, consumer and bucket name deltastream uses, built here only.

``subjects.md`` at the project root documents each of them with its payload and an
example ``nats`` command; keep the two in step.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ANALYTICS_STREAM",
    "ARCHIVE_CONSUMER",
    "DLQ_STREAM",
    "FEED_STREAM",
    "INGRESS_CONSUMER",
    "KV_LEASES",
    "KV_SNAPSHOTS",
    "KV_USERS",
    "LOGS_STREAM",
    "LOGS_WILDCARD",
    "PREFIX",
    "SERVICE_NAME",
    "AnalyticsSubject",
    "FeedLayout",
    "FeedSubject",
    "PartitionKey",
    "analytics_chain",
    "analytics_ohlc",
    "analytics_summary",
    "analytics_surface",
    "analytics_underlying",
    "chain_key",
    "checkpoint_key",
    "dlq",
    "feed_chain",
    "feed_quotes",
    "feed_underlying",
    "ingress_consumer",
    "lease_key",
    "logs",
    "max_deliveries_advisory",
    "parse_analytics_subject",
    "parse_feed_subject",
    "partition_of",
    "partition_service_subject",
    "presence_key",
    "product_note",
    "service_subject",
]

PREFIX = "deltastream"

FEED_STREAM = "FEED"
ANALYTICS_STREAM = "ANALYTICS"
DLQ_STREAM = "DLQ"
INGRESS_CONSUMER = "ingress"
LOGS_STREAM = "LOGS"
ARCHIVE_CONSUMER = "archive"
KV_SNAPSHOTS = "deltastream_snapshots"
KV_USERS = "deltastream_users"
KV_LEASES = "deltastream_leases"
SERVICE_NAME = "deltastream-snapshots"

LOGS_WILDCARD = f"{PREFIX}.logs.*"

FeedKind = Literal["underlying", "chain", "quotes"]
AnalyticsKind = Literal["underlying", "summary", "chain", "surface", "ohlc"]

# A NATS token: no dots, wildcards or whitespace. Products are upper case by contract.
_PRODUCT_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}", re.ASCII)
_EXPIRY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _is_date(token: str) -> bool:
    if not _EXPIRY_RE.fullmatch(token):
        return False
    try:
        dt.date.fromisoformat(token)
    except ValueError:
        return False
    return True


def feed_underlying(product: str) -> str:
    return f"{PREFIX}.feed.underlying.{product}"


def feed_chain(product: str, expiry: str) -> str:
    return f"{PREFIX}.feed.chain.{product}.{expiry}"


def feed_quotes(product: str, expiry: str) -> str:
    return f"{PREFIX}.feed.quotes.{product}.{expiry}"


def analytics_underlying(product: str) -> str:
    return f"{PREFIX}.analytics.underlying.{product}"


def analytics_summary(product: str, expiry: str) -> str:
    return f"{PREFIX}.analytics.summary.{product}.{expiry}"


def analytics_chain(product: str, expiry: str) -> str:
    return f"{PREFIX}.analytics.chain.{product}.{expiry}"


def analytics_surface(product: str) -> str:
    return f"{PREFIX}.analytics.surface.{product}"


def analytics_ohlc(product: str, interval: str) -> str:
    return f"{PREFIX}.analytics.ohlc.{product}.{interval}"


def dlq(original_subject: str) -> str:
    """The dead-letter subject for a message first seen on ``original_subject``."""
    rest = original_subject.removeprefix(f"{PREFIX}.")
    return f"{PREFIX}.dlq.{rest}"


def logs(service: str) -> str:
    """Log events of one service (``actors``, ``edge``, ``feed``, … or a program outside)."""
    return f"{PREFIX}.logs.{service}"


def service_subject(endpoint: str) -> str:
    return f"{PREFIX}.svc.{endpoint}"


def partition_service_subject(partition: int, endpoint: str) -> str:
    """Where the host that owns ``partition`` answers ``endpoint`` (hosts forward to it)."""
    return f"{PREFIX}.svc.partition.{partition}.{endpoint}"


def product_note(product: str) -> str:
    """Where a chain tells its product actor on another host its smile and totals (core
    NATS; only with FEED partitioned by chain)."""
    return f"{PREFIX}.internal.product.{product}"


def max_deliveries_advisory(stream: str, consumer: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


def chain_key(product: str, expiry: str) -> str:
    """KV key of a chain snapshot (KV keys allow dots, so keep the subject's shape)."""
    return f"chain.{product}.{expiry}"


def ingress_consumer(partition: int, partitions: int) -> str:
    """The durable FEED consumer of a partition; with one partition, the historical name."""
    return INGRESS_CONSUMER if partitions == 1 else f"{INGRESS_CONSUMER}-{partition}"


def checkpoint_key(partition: int, partitions: int) -> str:
    """KV key (snapshots bucket) of a partition's checkpoint; ``checkpoint`` with one."""
    return "checkpoint" if partitions == 1 else f"checkpoint.{partition}"


def lease_key(partition: int) -> str:
    """KV key (leases bucket) naming the host that owns ``partition``."""
    return f"lease.{partition}"


def presence_key(host_id: str) -> str:
    """KV key (leases bucket) that says host ``host_id`` is alive."""
    return f"host.{host_id}"


_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193
_U32 = 0xFFFFFFFF


PartitionKey = Literal["product", "chain"]


def _fnv1a_32(data: bytes) -> int:
    h = _FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & _U32
    return h


def partition_of(product: str, partitions: int, expiry: str | None = None) -> int:
    """The partition nats-server's ``{{partition(n, …)}}`` subject mapping computes: 32-bit
    FNV-1a of the mapped tokens' bytes, concatenated without a separator, modulo ``n``.
    With ``expiry`` the product and expiry tokens (FEED partitioned by chain), else the
    product token alone.

    The FEED stream applies that mapping to chain and quotes subjects; hosts apply this
    function to underlying subjects, product actors and service requests, so both must agree
    (a test checks it against the server).
    """
    key = product if expiry is None else product + expiry
    return _fnv1a_32(key.encode()) % partitions


@dataclass(frozen=True, slots=True)
class FeedLayout:
    """How FEED stores the feed subjects when it is split into ``partitions``.

    One partition: FEED takes ``deltastream.feed.>`` as published. Several: FEED takes only
    the three contract shapes, and its subject transform appends the partition to chain and
    quotes subjects (``deltastream.feed.quotes.NIFTY.2026-12-29`` is stored as
    ``….2026-12-29.3``). ``key`` says what the partition hashes: ``product`` (a product's
    chains and its product actor together) or ``chain`` (product and expiry: one product's
    chains spread over partitions; its product actor lives in the product's *home*
    partition, ``partition_of(product)``). One transform can match only one subject shape,
    so underlying ticks keep their subject: every partition's consumer receives them; keyed
    by product the ingress keeps those of its own products, keyed by chain every partition
    keeps them all (its chains of the product need them). Publishers never see the change.
    """

    partitions: int = 1
    key: PartitionKey = "product"

    @property
    def partitioned(self) -> bool:
        return self.partitions > 1

    @property
    def by_chain(self) -> bool:
        return self.partitioned and self.key == "chain"

    def stream_subjects(self) -> list[str]:
        if not self.partitioned:
            return [f"{PREFIX}.feed.>"]
        return [
            f"{PREFIX}.feed.underlying.*",
            f"{PREFIX}.feed.chain.*.*",
            f"{PREFIX}.feed.quotes.*.*",
        ]

    def transform(self) -> tuple[str, str] | None:
        """(source, destination) of FEED's subject transform, None when not partitioned."""
        if not self.partitioned:
            return None
        tokens = "2,3" if self.by_chain else "2"
        return (
            f"{PREFIX}.feed.*.*.*",
            f"{PREFIX}.feed.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{wildcard(3)}}}}"
            f".{{{{partition({self.partitions},{tokens})}}}}",
        )

    def consumer_filters(self, partition: int) -> list[str]:
        if not self.partitioned:
            return [f"{PREFIX}.feed.>"]
        return [f"{PREFIX}.feed.underlying.*", f"{PREFIX}.feed.*.*.*.{partition}"]

    def partition_of(self, product: str) -> int:
        """The product's partition (keyed by chain: its home, where its product actor is)."""
        return partition_of(product, self.partitions)

    def chain_partition(self, product: str, expiry: str) -> int:
        """The partition that stores and applies one chain's messages."""
        return partition_of(product, self.partitions, expiry if self.by_chain else None)

    def chain_filters(self, product: str, expiry: str) -> list[str]:
        """The stored subjects of one chain's own messages (snapshots and quotes)."""
        chain, quotes = feed_chain(product, expiry), feed_quotes(product, expiry)
        if not self.partitioned:
            return [chain, quotes]
        k = self.chain_partition(product, expiry)
        return [f"{chain}.{k}", f"{quotes}.{k}"]

    def stored_partition(self, stored: str) -> int | None:
        """The one partition a stored FEED subject belongs to; None when not partitioned and
        for an underlying tick keyed by chain (every partition takes it)."""
        if not self.partitioned:
            return None
        parts = stored.split(".")
        if len(parts) == 6:
            return int(parts[5])
        if self.by_chain:
            return None
        return self.partition_of(parts[3])  # an underlying tick: by its product token

    def canonical(self, stored: str) -> str:
        """The subject as published, from the subject FEED stored."""
        if not self.partitioned or stored.count(".") != 5:
            return stored
        return stored.rsplit(".", 1)[0]


@dataclass(frozen=True, slots=True)
class FeedSubject:
    kind: FeedKind
    product: str
    expiry: str | None


def parse_feed_subject(subject: str) -> FeedSubject | None:
    """Split a feed subject into its parts; None when it is not a well-formed feed subject."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != PREFIX or parts[1] != "feed":
        return None
    kind, product = parts[2], parts[3]
    if not _PRODUCT_RE.fullmatch(product):
        return None
    if kind == "underlying" and len(parts) == 4:
        return FeedSubject("underlying", product, None)
    if kind in ("chain", "quotes") and len(parts) == 5 and _is_date(parts[4]):
        return FeedSubject(kind, product, parts[4])  # type: ignore[arg-type]
    return None


@dataclass(frozen=True, slots=True)
class AnalyticsSubject:
    kind: AnalyticsKind
    product: str
    expiry: str | None


def parse_analytics_subject(subject: str) -> AnalyticsSubject | None:
    """Split an underlying, summary or chain analytics subject; None when it is not one."""
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != PREFIX or parts[1] != "analytics":
        return None
    kind, product = parts[2], parts[3]
    if not _PRODUCT_RE.fullmatch(product):
        return None
    if kind == "underlying" and len(parts) == 4:
        return AnalyticsSubject("underlying", product, None)
    if kind in ("summary", "chain") and len(parts) == 5 and _is_date(parts[4]):
        return AnalyticsSubject(kind, product, parts[4])  # type: ignore[arg-type]
    return None
