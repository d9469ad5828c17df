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
    "KV_SNAPSHOTS",
    "KV_USERS",
    "LOGS_STREAM",
    "LOGS_WILDCARD",
    "PREFIX",
    "SERVICE_NAME",
    "AnalyticsSubject",
    "FeedSubject",
    "analytics_chain",
    "analytics_ohlc",
    "analytics_summary",
    "analytics_surface",
    "analytics_underlying",
    "chain_key",
    "dlq",
    "feed_chain",
    "feed_quotes",
    "feed_underlying",
    "logs",
    "max_deliveries_advisory",
    "parse_analytics_subject",
    "parse_feed_subject",
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


def max_deliveries_advisory(stream: str, consumer: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


def chain_key(product: str, expiry: str) -> str:
    """KV key of a chain snapshot (KV keys allow dots, so keep the subject's shape)."""
    return f"chain.{product}.{expiry}"


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
