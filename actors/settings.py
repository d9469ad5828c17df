"""Settings, read once at start-up from ``DELTASTREAM_*`` environment variables.

Each key is cast to its declared type; an unknown ``DELTASTREAM_`` key or a bad value is a
``ConfigError`` naming the key. Nothing else in deltastream reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from actors.errors import ConfigError

__all__ = ["ENV_PREFIX", "OHLC_INTERVALS", "Settings"]

ENV_PREFIX = "DELTASTREAM_"
OHLC_INTERVALS = ("1m", "5m", "15m")


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    # JetStream replicas for streams and buckets: 1 embedded, 3 on a cluster.
    replicas: int = 1

    # products
    products_file: str | None = None
    restrict_products: bool = False
    max_chains: int = 200

    # streams
    feed_max_age_s: float = 3 * 86400.0
    feed_max_bytes: int = 2 * 1024**3
    feed_dedup_window_s: float = 120.0
    analytics_history_per_subject: int = 2000
    analytics_max_age_s: float = 86400.0
    dlq_max_age_s: float = 7 * 86400.0
    max_payload_bytes: int = 512 * 1024

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
    restart_max: int = 5
    restart_window_s: float = 60.0
    ohlc_intervals: tuple[str, ...] = ("1m", "5m", "15m")

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
    redis_url: str | None = None
    mongo_url: str | None = None

    # logs
    log_level: str = "info"
    log_json: bool = True

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
        return settings
