"""Prometheus metrics of the actor host and of every process's log shipping.

The actor host's metrics live in prometheus_client's default registry and are served by the
host's own HTTP endpoint (``actors.monitoring``). Log shipping runs in every process (edges,
feeds, actor hosts), so its counters have a registry of their own that each process's
``/metrics`` appends.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = [
    "ACTOR_HOST_HEALTHY",
    "CHAINS_LIVE",
    "FEED_ACCEPTED",
    "FEED_LAG_MESSAGES",
    "FEED_LAG_SHARE",
    "FEED_MISSED",
    "FEED_REDELIVERED",
    "FEED_REJECTED",
    "LOG_EVENTS_BUFFERED",
    "LOG_EVENTS_DROPPED",
    "LOG_EVENTS_PUBLISHED",
    "LOG_REGISTRY",
    "RECOMPUTE_SECONDS",
    "SUPERVISOR_RESTARTS",
    "recompute_histogram",
]

FEED_ACCEPTED = Counter("deltastream_feed_accepted_total", "Feed messages applied", ["kind"])
FEED_REJECTED = Counter(
    "deltastream_feed_rejected_total", "Feed messages dead-lettered, by reason", ["reason"]
)
FEED_REDELIVERED = Counter(
    "deltastream_feed_redelivered_total", "Feed messages delivered more than once"
)
FEED_LAG_MESSAGES = Gauge(
    "deltastream_feed_lag_messages",
    "FEED messages not yet delivered to a partition's ingress (checked every few seconds)",
    ["partition"],
)
FEED_LAG_SHARE = Gauge(
    "deltastream_feed_lag_share",
    "A partition's undelivered FEED bytes as a share of FEED's byte limit (1: FEED drops "
    "messages the ingress has not read)",
    ["partition"],
)
FEED_MISSED = Counter(
    "deltastream_feed_missed_total",
    "FEED sequences dropped (age or byte limit) before a partition's ingress applied them",
    ["partition"],
)
RECOMPUTE_SECONDS = Histogram(
    "deltastream_recompute_seconds",
    "Time of one chain recompute (IV, greeks, aggregates, summary)",
    buckets=(5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1),
)


def recompute_histogram() -> dict[str, Any]:
    """``RECOMPUTE_SECONDS`` as plain data for the host's health reply, so an edge can show
    every host's recompute time on its own ``/metrics``: cumulative bucket counts by upper
    bound in seconds, as Prometheus writes it (``"5e-05"`` … ``"+Inf"``), the count and the
    sum."""
    buckets: list[tuple[str, float]] = []
    count = 0.0
    total_s = 0.0
    for metric in RECOMPUTE_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((sample.labels["le"], sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total_s = sample.value
    return {"buckets": buckets, "count": count, "sum_s": total_s}


CHAINS_LIVE = Gauge("deltastream_chains_live", "Chain actors alive")
SUPERVISOR_RESTARTS = Counter(
    "deltastream_supervisor_restarts_total", "Chain actors restarted by the supervisor"
)
ACTOR_HOST_HEALTHY = Gauge(
    "deltastream_actor_host_healthy",
    "1 when the supervisor has not escalated and NATS is connected (read at scrape time)",
)

LOG_REGISTRY = CollectorRegistry(auto_describe=True)
LOG_EVENTS_PUBLISHED = Counter(
    "deltastream_log_events_published",
    "Log events handed to NATS (deltastream.logs.<service>)",
    registry=LOG_REGISTRY,
)
LOG_EVENTS_DROPPED = Counter(
    "deltastream_log_events_dropped",
    "Log events dropped, oldest first, because the buffer was full while NATS was away",
    registry=LOG_REGISTRY,
)
LOG_EVENTS_BUFFERED = Gauge(
    "deltastream_log_events_buffered",
    "Log events waiting for NATS in this process",
    registry=LOG_REGISTRY,
)
