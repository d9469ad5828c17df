"""Settings.from_env: DELTASTREAM_* variables cast per key; unknown keys and bad values are
ConfigErrors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.errors import ConfigError
from actors.settings import ENV_PREFIX, Settings


def test_an_empty_environment_gives_the_defaults() -> None:
    assert Settings.from_env({}) == Settings()


def test_variables_without_the_prefix_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "NATS_URL": "x", "DELTASTREAMX": "1"}) == Settings()


@pytest.mark.parametrize(
    ("key", "raw", "field", "value"),
    [
        ("DELTASTREAM_NATS_URL", "nats://10.0.0.1:4333", "nats_url", "nats://10.0.0.1:4333"),
        ("DELTASTREAM_MAX_CHAINS", "12", "max_chains", 12),
        ("DELTASTREAM_REPLICAS", "3", "replicas", 3),
        ("DELTASTREAM_ACK_WAIT_S", "2.5", "ack_wait_s", 2.5),
        ("DELTASTREAM_FEED_MAX_AGE_S", "60", "feed_max_age_s", 60.0),
        ("DELTASTREAM_RESTRICT_PRODUCTS", "true", "restrict_products", True),
        ("DELTASTREAM_RESTRICT_PRODUCTS", "false", "restrict_products", False),
        ("DELTASTREAM_RESTRICT_PRODUCTS", "1", "restrict_products", True),
        ("DELTASTREAM_LOG_JSON", "0", "log_json", False),
        ("DELTASTREAM_JWT_SECRET", "s3cret", "jwt_secret", "s3cret"),
        ("DELTASTREAM_LOG_LEVEL", "debug", "log_level", "debug"),
        ("DELTASTREAM_ACTORS_HTTP_PORT", "8001", "actors_http_port", 8001),
        ("DELTASTREAM_LOG_NATS", "false", "log_nats", False),
        ("DELTASTREAM_LOGS_MAX_BYTES", "1048576", "logs_max_bytes", 1048576),
        ("DELTASTREAM_FORWARDED_ALLOW_IPS", "*", "forwarded_allow_ips", "*"),
    ],
)
def test_each_variable_is_cast_to_its_field_type(
    key: str, raw: str, field: str, value: object
) -> None:
    got = getattr(Settings.from_env({key: raw}), field)
    assert (got, type(got)) == (value, type(value))


def test_a_products_file_variable_names_that_path(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    settings = Settings.from_env({"DELTASTREAM_PRODUCTS_FILE": str(path)})
    assert settings.products_file is not None and Path(settings.products_file) == path


@pytest.mark.parametrize(
    ("raw", "intervals"),
    [("1m", ("1m",)), ("1m,5m", ("1m", "5m")), ("15m,5m,1m", ("15m", "5m", "1m"))],
)
def test_ohlc_intervals_is_a_comma_separated_list(raw: str, intervals: tuple[str, ...]) -> None:
    assert Settings.from_env({"DELTASTREAM_OHLC_INTERVALS": raw}).ohlc_intervals == intervals


@pytest.mark.parametrize("key", ["DELTASTREAM_NO_SUCH_THING", "DELTASTREAM_NATSURL"])
def test_an_unknown_key_is_a_config_error_naming_it(key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env({key: "1"})


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("DELTASTREAM_MAX_CHAINS", "many"),
        ("DELTASTREAM_MAX_CHAINS", "1.5"),
        ("DELTASTREAM_HTTP_PORT", ""),
        ("DELTASTREAM_ACK_WAIT_S", "soon"),
        ("DELTASTREAM_RESTRICT_PRODUCTS", "maybe"),
        ("DELTASTREAM_LOG_JSON", "2"),
        ("DELTASTREAM_ACTORS_HTTP_PORT", "70000"),
        ("DELTASTREAM_ACTORS_HTTP_PORT", "-1"),
        ("DELTASTREAM_LOG_BUFFER_EVENTS", "0"),
        ("DELTASTREAM_LOGS_MAX_BYTES", "1000"),
        ("DELTASTREAM_LOG_POSTS_PER_MINUTE", "0"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_key(key: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Settings.from_env({"DELTASTREAM_LOG_LEVEL": "info", key: raw})


def test_overrides_win_over_the_environment() -> None:
    s = Settings.from_env({"DELTASTREAM_NATS_URL": "nats://a:1"}, nats_url="nats://b:2")
    assert s.nats_url == "nats://b:2"


def test_a_none_override_leaves_the_environment_value() -> None:
    s = Settings.from_env({"DELTASTREAM_NATS_URL": "nats://a:1"}, nats_url=None)
    assert s.nats_url == "nats://a:1"


def test_an_unknown_override_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match=f"{ENV_PREFIX}BOGUS"):
        Settings.from_env({}, bogus=1)


def test_settings_are_immutable() -> None:
    s = Settings.from_env({})
    with pytest.raises(AttributeError):
        s.max_chains = 3  # type: ignore[misc]
