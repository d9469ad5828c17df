"""Prometheus metrics of one edge, in a registry of its own (several apps may share a process).

Request latency is labelled by route template (``/api/data/chain/{product}``), never by the
raw path, so a scan of random URLs cannot blow up the label set. ``render`` appends the
process's log-shipping counters (``actors.metrics.LOG_REGISTRY``) and, read from the actor
hosts at scrape time (``deltastream.svc.hosts``), each host's recompute-time histogram,
chain count and health, labelled by host id: one port shows the whole system.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.metrics import LOG_REGISTRY

__all__ = ["ActorHostMetrics", "EdgeMetrics", "HostRecompute", "LatencyMiddleware"]

UNMATCHED_ROUTE = "<unmatched>"
_LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_FEED_LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class HostRecompute(msgspec.Struct, frozen=True):
    """An actor host's ``deltastream_recompute_seconds`` as its health reply carries it."""

    buckets: list[tuple[str, float]]  # (upper bound as Prometheus writes it, cumulative count)
    count: float
    sum_s: float


@dataclass(frozen=True, slots=True)
class ActorHostMetrics:
    host_id: str
    healthy: bool
    chains: int
    recompute: HostRecompute | None


class _ActorHostsCollector:
    """The actor hosts' series of one scrape (None: the hosts could not be asked)."""

    def __init__(self, hosts: list[ActorHostMetrics] | None) -> None:
        self.hosts = hosts

    def collect(self) -> Iterator[Metric]:
        answered = GaugeMetricFamily(
            "deltastream_edge_actor_hosts",
            "Actor hosts that answered this scrape (0: the actor service did not answer)",
        )
        answered.add_metric([], len(self.hosts or ()))
        yield answered
        if not self.hosts:
            return
        healthy = GaugeMetricFamily(
            "deltastream_actor_healthy", "1 when the actor host is healthy", labels=["host"]
        )
        chains = GaugeMetricFamily(
            "deltastream_actor_chains", "Chain actors alive on the host", labels=["host"]
        )
        recompute = HistogramMetricFamily(
            "deltastream_actor_recompute_seconds",
            "Time of one chain recompute (IV, greeks, aggregates, summary) on the host",
            labels=["host"],
        )
        for h in self.hosts:
            healthy.add_metric([h.host_id], 1 if h.healthy else 0)
            chains.add_metric([h.host_id], h.chains)
            r = h.recompute
            if r is not None and r.buckets and r.buckets[-1][0] == "+Inf":
                recompute.add_metric([h.host_id], [list(b) for b in r.buckets], r.sum_s)
        yield from (healthy, chains, recompute)


class EdgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.request_seconds = Histogram(
            "deltastream_edge_http_request_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.socket_clients = Gauge(
            "deltastream_edge_socket_clients", "Connected Socket.IO clients", registry=r
        )
        self.socket_clients_direct = Gauge(
            "deltastream_edge_socket_clients_direct",
            "Connected Socket.IO clients whose events are written straight to their websocket "
            "(the others, long-polling or upgraded from it, go through python-engineio's queue)",
            registry=r,
        )
        self.socket_rooms = Gauge(
            "deltastream_edge_socket_rooms", "Socket.IO rooms with at least one client", registry=r
        )
        self.messages_in = Counter(
            "deltastream_edge_nats_messages_in",
            "Analytics messages received from NATS by kind",
            ["kind"],
            registry=r,
        )
        self.messages_out = Counter(
            "deltastream_edge_socket_messages_out",
            "Socket.IO events written to clients by event",
            ["event"],
            registry=r,
        )
        self.messages_conflated = Counter(
            "deltastream_edge_socket_messages_conflated",
            "Pending Socket.IO payloads replaced by a newer one before a slow client took them",
            registry=r,
        )
        self.binary_refused = Counter(
            "deltastream_edge_socket_binary_refused",
            "Binary Socket.IO packets refused (events are JSON; attachments are not kept)",
            registry=r,
        )
        self.messages_invalid = Counter(
            "deltastream_edge_nats_messages_invalid",
            "Analytics messages dropped because their subject or JSON was malformed",
            registry=r,
        )
        self.dlq_messages = Gauge(
            "deltastream_dlq_messages",
            "Messages in the DLQ stream (read from stream info at scrape time)",
            registry=r,
        )
        self.socket_pending = Gauge(
            "deltastream_edge_socket_pending",
            "Payloads waiting in per-client outboxes (at most one per client, event and room)",
            registry=r,
        )
        self.socket_answers_held = Gauge(
            "deltastream_edge_socket_answers_held",
            "Answers to Socket.IO requests waiting for their client to read earlier ones (the "
            "client's next requests wait behind them)",
            registry=r,
        )
        self.nats_connected = Gauge(
            "deltastream_edge_nats_connected", "1 when the edge's NATS connection is up", registry=r
        )
        self.history_pages = Counter(
            "deltastream_edge_history_pages",
            "History pages answered, by source (archive, stream)",
            ["source"],
            registry=r,
        )
        self.history_cache = Counter(
            "deltastream_edge_history_cache",
            "History page cache look-ups in Redis, by result (hit, miss, error)",
            ["result"],
            registry=r,
        )
        self.feed_latency = Histogram(
            "deltastream_edge_feed_latency_seconds",
            "From the feed message's ts (producer clock) to this edge receiving the analytics "
            "it caused, by kind (underlying, summary); includes clock skew between the hosts",
            ["kind"],
            buckets=_FEED_LATENCY_BUCKETS_S,
            registry=r,
        )

    def up_gauge(self, dependency: str) -> Gauge:
        """``deltastream_edge_<dependency>_up``, registered only for what is configured."""
        return Gauge(
            f"deltastream_edge_{dependency}_up",
            f"1 while this edge uses {dependency} (0: degraded, working without it)",
            registry=self.registry,
        )

    def render(self, hosts: list[ActorHostMetrics] | None = None) -> bytes:
        """This edge's metrics, the log-shipping counters and the actor hosts' series."""
        actors = CollectorRegistry(auto_describe=False)
        actors.register(_ActorHostsCollector(hosts))
        return (
            generate_latest(self.registry) + generate_latest(LOG_REGISTRY) + generate_latest(actors)
        )


def _route_template(routes: list[Route], scope: Scope) -> str:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route.path
    return UNMATCHED_ROUTE


class LatencyMiddleware:
    """Pure ASGI middleware: times each HTTP request and labels it with its route template."""

    def __init__(
        self, app: ASGIApp, *, metrics: EdgeMetrics, routes: Callable[[], list[Route]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.request_seconds.labels(
                scope["method"], _route_template(self.routes(), scope), str(status)
            ).observe(time.perf_counter() - started)
