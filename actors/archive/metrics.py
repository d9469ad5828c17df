"""Prometheus metrics of one archive writer, in a registry of its own (tests run several in
one process); ``deltastream archive --metrics-port N`` serves them."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["ArchiveMetrics"]

_WRITE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ArchiveMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.documents = Counter(
            "deltastream_archive_documents",
            "Documents written, by collection and result (stored, duplicate)",
            ["collection", "result"],
            registry=r,
        )
        self.skipped = Counter(
            "deltastream_archive_downsampled",
            "Enriched chains not archived because their interval already has one",
            registry=r,
        )
        self.rejected = Counter(
            "deltastream_archive_rejected",
            "Messages that can never be archived (dead-lettered), by reason",
            ["reason"],
            registry=r,
        )
        self.failures = Counter(
            "deltastream_archive_write_failures",
            "Batch writes or index set-ups that failed and will be retried",
            registry=r,
        )
        self.redelivered = Counter(
            "deltastream_archive_redelivered",
            "Messages the server delivered more than once",
            registry=r,
        )
        self.lag_messages = Gauge(
            "deltastream_archive_lag_messages",
            "ANALYTICS messages not yet delivered to the archive consumer",
            registry=r,
        )
        self.lag_seconds = Gauge(
            "deltastream_archive_lag_seconds",
            "Age of the newest archived message (now - its ANALYTICS timestamp) at its ack",
            registry=r,
        )
        self.mongo_up = Gauge(
            "deltastream_archive_mongo_up", "1 while the last MongoDB write succeeded", registry=r
        )
        self.write_seconds = Histogram(
            "deltastream_archive_write_seconds",
            "Time of one confirmed batch write",
            buckets=_WRITE_BUCKETS_S,
            registry=r,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> WSGIServer:
        """Serve ``/metrics`` on a daemon thread; ``shutdown()`` the answer to stop it."""
        server, _ = start_http_server(port, addr=host, registry=self.registry)
        return server
