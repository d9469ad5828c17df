"""Settings, read once at start-up from ``DELTASTREAM_*`` environment variables.

Each key is cast to its declared type; an unknown ``DELTASTREAM_`` key or a bad value is a
``ConfigError`` naming the key. Nothing else in deltastream reads ``os.environ``, except
``edge/up.py`` (``XDG_DATA_HOME``, for ``deltastream up``'s default data directory) and
``actors/host_processes.py``, which passes the environment on to its child hosts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated

import msgspec
from msgspec import Meta

from actors.cpu_affinity import parse_cpu_list
from actors.errors import ConfigError
from actors.subjects import FeedLayout, PartitionKey

__all__ = ["ENV_PREFIX", "MAX_PARTITIONS", "OHLC_INTERVALS", "Settings", "nats_servers"]

ENV_PREFIX = "DELTASTREAM_"
OHLC_INTERVALS = ("1m", "5m", "15m")
MAX_PARTITIONS = 256
# A host id is one KV key token (``host.<id>``) and part of log lines: keep it plain.
_HOST_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # One URL, or several separated by commas (the servers of a cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    # JetStream replicas for streams and buckets: 1 embedded, 3 on a cluster.
    replicas: int = 1

    # products
    products_file: str | None = None
    restrict_products: bool = False
    max_chains: int = 200
    # Strikes one chain may list: with max_chains, the bound on what a hostile feed can make
    # the host hold (a quotes message may add up to 10 000 new strikes to its chain).
    max_strikes: int = 2000

    # streams
    feed_max_age_s: float = 3 * 86400.0
    feed_max_bytes: int = 2 * 1024**3
    feed_dedup_window_s: float = 120.0
    analytics_history_per_subject: int = 2000
    analytics_max_age_s: float = 86400.0
    dlq_max_age_s: float = 7 * 86400.0
    max_payload_bytes: int = 512 * 1024
    # A feed ts further ahead of the host's clock is refused (ts_in_future); 0: not checked.
    max_ts_ahead_s: Annotated[float, Meta(ge=0)] = 300.0

    # ingress
    ack_wait_s: float = 10.0
    max_deliver: int = 5
    fetch_batch: int = 256
    max_ack_pending: int = 8192
    actor_timeout_s: float = 5.0

    # actors
    chain_publish_interval_s: float = 0.5
    surface_publish_interval_s: float = 1.0
    snapshot_interval_s: float = 10.0
    # A chain is stopped this long after its expiry instant by its product's feed clock
    # (its last state stays in KV and on ANALYTICS); it then leaves svc.products and the
    # DELTASTREAM_MAX_CHAINS count.
    retire_after_s: Annotated[float, Meta(ge=0)] = 86400.0
    restart_max: int = 5
    restart_window_s: float = 60.0
    ohlc_intervals: tuple[str, ...] = ("1m", "5m", "15m")

    # scale-out: FEED partitions (the same on every host), leases on them
    partitions: int = 1
    # What a partition hashes: "product" keeps each product whole on one host; "chain"
    # (product and expiry) spreads one product's chains over hosts (DESIGN.md §11).
    partition_key: PartitionKey = "product"
    host_id: str | None = None  # default: <hostname>-<pid>
    # Set by ``deltastream up --hosts`` on its child hosts: a host stops (SIGTERM) when this
    # process exits, however it exits (Linux).
    parent_pid: int = 0
    lease_ttl_s: float = 2.0
    lease_renew_s: float = 0.5
    # CPUs `deltastream actors` pins its threads to (a CPU list: "1", "0,2", "4-7"; empty:
    # the scheduler's choice). One core per host keeps the GIL's hand-overs on that core
    # (actors/cpu_affinity.py). `up` and its child hosts never pin.
    host_cpus: str = ""

    # edge
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # SO_REUSEPORT on the listener: several edge processes share one port and the kernel
    # spreads connections over them (edges hold no shared socket state).
    http_reuse_port: bool = False
    # A summary/underlying message the edge's bridge received at most this long ago is served
    # as the REST/Socket.IO snapshot without asking the actors (the same bytes); 0 = always ask.
    snapshot_max_age_s: float = 5.0
    auth_required: bool = False
    jwt_secret: str | None = None
    token_ttl_s: int = 3600
    login_attempts_per_minute: int = 10
    # Comma list of proxy addresses whose X-Forwarded-For is believed ("*" = any: only when
    # nothing but the proxy can reach the edge).
    forwarded_allow_ips: str = "127.0.0.1,::1"
    # Requests per minute per caller (user, else address) on /api/data and /api/analytics;
    # 0 = no limit. Shared across edges through Redis when it is configured.
    api_requests_per_minute: Annotated[int, Meta(ge=0)] = 0

    # Redis (optional): history cache-aside and rate-limit counters shared by the edges
    redis_url: str | None = None
    redis_key_prefix: str = "deltastream:"
    redis_timeout_s: Annotated[float, Meta(gt=0)] = 1.0
    history_cache_ttl_s: Annotated[float, Meta(gt=0)] = 30.0
    # How often an edge probes a degraded Redis or MongoDB to see whether it is back.
    dependency_retry_s: Annotated[float, Meta(gt=0)] = 2.0

    # MongoDB archive (optional): `deltastream archive` writes it, the edges read history
    mongo_url: str | None = None
    mongo_database: str = "deltastream"
    mongo_timeout_s: Annotated[float, Meta(gt=0)] = 5.0
    archive_batch: Annotated[int, Meta(ge=1, le=10_000)] = 256
    archive_ack_wait_s: Annotated[float, Meta(gt=0)] = 30.0
    archive_backoff_max_s: Annotated[float, Meta(gt=0)] = 30.0
    # One enriched chain per product/expiry is kept per interval (the first one in it).
    archive_chain_interval_s: Annotated[float, Meta(gt=0)] = 60.0
    # Time to live of archived documents, counted from when they were archived; 0 = forever.
    archive_underlying_ttl_s: Annotated[float, Meta(ge=0)] = 90 * 86400.0
    archive_summary_ttl_s: Annotated[float, Meta(ge=0)] = 90 * 86400.0
    archive_chain_ttl_s: Annotated[float, Meta(ge=0)] = 30 * 86400.0
    # Prometheus port of `deltastream archive`; 0 = not served.
    archive_metrics_port: Annotated[int, Meta(ge=0, le=65535)] = 0

    # actor host monitoring: /metrics and /health over HTTP (0 = no HTTP endpoint)
    actors_http_host: str = "127.0.0.1"
    actors_http_port: Annotated[int, Meta(ge=0, le=65535)] = 0

    # logs: stderr (JSON lines) and the LOGS stream (deltastream.logs.<service>)
    log_level: str = "info"
    log_json: bool = True
    log_nats: bool = True
    log_buffer_events: Annotated[int, Meta(ge=1)] = 10_000
    logs_max_age_s: Annotated[float, Meta(gt=0)] = 7 * 86400.0
    logs_max_bytes: Annotated[int, Meta(ge=1024**2)] = 256 * 1024**2
    log_posts_per_minute: Annotated[int, Meta(ge=1)] = 120

    def feed_layout(self) -> FeedLayout:
        """How FEED is split over partitions with these settings."""
        return FeedLayout(self.partitions, self.partition_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        raw: dict[str, object] = {}
        fields = set(cls.__struct_fields__)
        for key, value in environ.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key.removeprefix(ENV_PREFIX).lower()
            if name not in fields:
                raise ConfigError(f"unknown setting {key}")
            if name == "ohlc_intervals":
                raw[name] = [v.strip() for v in value.split(",") if v.strip()]
            else:
                raw[name] = value
        raw.update({k: v for k, v in overrides.items() if v is not None})
        for name, value in raw.items():
            try:
                msgspec.convert({name: value}, cls, strict=False)
            except msgspec.ValidationError as exc:
                raise ConfigError(f"setting {ENV_PREFIX}{name.upper()}: {exc}") from exc
        settings = msgspec.convert(raw, cls, strict=False)
        unknown = set(settings.ohlc_intervals) - set(OHLC_INTERVALS)
        if unknown or not settings.ohlc_intervals:
            allowed = ", ".join(OHLC_INTERVALS)
            raise ConfigError(f"setting {ENV_PREFIX}OHLC_INTERVALS: a comma list of {allowed}")
        _check_scale_out(settings)
        parse_cpu_list(settings.host_cpus)  # a ConfigError names the setting
        return settings


def _check_scale_out(s: Settings) -> None:
    if not 1 <= s.partitions <= MAX_PARTITIONS:
        raise ConfigError(f"setting {ENV_PREFIX}PARTITIONS: between 1 and {MAX_PARTITIONS}")
    if s.host_id is not None and not _HOST_ID_RE.fullmatch(s.host_id):
        raise ConfigError(f"setting {ENV_PREFIX}HOST_ID: 1-64 of A-Z, a-z, 0-9, _ and -")
    if s.lease_renew_s <= 0 or s.lease_ttl_s <= 3 * s.lease_renew_s:
        # An owner must be able to miss two renewals and still stop before its lease expires.
        raise ConfigError(
            f"settings {ENV_PREFIX}LEASE_RENEW_S and {ENV_PREFIX}LEASE_TTL_S: "
            "the renew period must be positive and below a third of the TTL"
        )
    if not nats_servers(s.nats_url):
        raise ConfigError(f"setting {ENV_PREFIX}NATS_URL: no server URL")


def nats_servers(nats_url: str) -> list[str]:
    """The server URLs of a ``nats_url`` setting (comma-separated, like the nats CLI's)."""
    return [u.strip() for u in nats_url.split(",") if u.strip()]
