"""The errors deltastream raises at its boundaries.

::

    DeltastreamError
    ├── ConfigError                 a setting is missing or has the wrong type
    ├── FeedRejected                a feed message that can never be applied (→ DLQ, terminated)
    │   ├── SchemaInvalid           JSON or msgspec validation failed
    │   ├── SubjectMismatch         payload product/expiry differ from the subject's
    │   ├── UnknownProduct          products are restricted and this one is not configured
    │   ├── ExpiredChain            the expiry is already past at the message's timestamp
    │   ├── OversizedPayload        payload larger than the configured limit
    │   ├── OffGridStrike           strike not a multiple of the product's strike step
    │   ├── DuplicateRow            the same (strike, right) twice in one message
    │   ├── CrossedQuote            bid above ask
    │   ├── TooManyChains           the live-chain cap is reached
    │   └── TooManyStrikes          the message would list more strikes than a chain may hold
    └── ChainNotFound               no live chain for that product/expiry

``FeedRejected.reason`` is the stable machine-readable code that DLQ headers and metrics use.
"""

from __future__ import annotations

__all__ = [
    "ChainNotFound",
    "ConfigError",
    "CrossedQuote",
    "DeltastreamError",
    "DistantExpiry",
    "DuplicateRow",
    "ExpiredChain",
    "FeedRejected",
    "FutureTimestamp",
    "OffGridStrike",
    "OversizedPayload",
    "SchemaInvalid",
    "SubjectMismatch",
    "TooManyChains",
    "TooManyStrikes",
    "UnknownProduct",
]


class DeltastreamError(Exception):
    """Root of every error deltastream raises on purpose."""


class ConfigError(DeltastreamError):
    pass


class ChainNotFound(DeltastreamError):
    pass


class FeedRejected(DeltastreamError):
    reason = "rejected"


class SchemaInvalid(FeedRejected):
    reason = "schema_invalid"


class SubjectMismatch(FeedRejected):
    reason = "subject_mismatch"


class UnknownProduct(FeedRejected):
    reason = "unknown_product"


class ExpiredChain(FeedRejected):
    reason = "expired"


class FutureTimestamp(FeedRejected):
    reason = "ts_in_future"


class DistantExpiry(FeedRejected):
    reason = "expiry_too_far"


class OversizedPayload(FeedRejected):
    reason = "oversized_payload"


class OffGridStrike(FeedRejected):
    reason = "off_grid_strike"


class DuplicateRow(FeedRejected):
    reason = "duplicate_row"


class CrossedQuote(FeedRejected):
    reason = "crossed_quote"


class TooManyChains(FeedRejected):
    reason = "too_many_chains"


class TooManyStrikes(FeedRejected):
    reason = "too_many_strikes"
