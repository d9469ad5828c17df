"""Prometheus metrics of the actor host (exposed on its /metrics and the edge's)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "CHAINS_LIVE",
    "FEED_ACCEPTED",
    "FEED_REDELIVERED",
    "FEED_REJECTED",
    "RECOMPUTE_SECONDS",
    "SUPERVISOR_RESTARTS",
]

FEED_ACCEPTED = Counter("deltastream_feed_accepted_total", "Feed messages applied", ["kind"])
FEED_REJECTED = Counter(
    "deltastream_feed_rejected_total", "Feed messages dead-lettered, by reason", ["reason"]
)
FEED_REDELIVERED = Counter(
    "deltastream_feed_redelivered_total", "Feed messages delivered more than once"
)
RECOMPUTE_SECONDS = Histogram(
    "deltastream_recompute_seconds",
    "Time of one chain recompute (IV, greeks, aggregates, summary)",
    buckets=(5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1),
)
CHAINS_LIVE = Gauge("deltastream_chains_live", "Chain actors alive")
SUPERVISOR_RESTARTS = Counter(
    "deltastream_supervisor_restarts_total", "Chain actors restarted by the supervisor"
)
