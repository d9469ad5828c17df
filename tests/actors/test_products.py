"""Product specs: the strike grid check and loading a products TOML file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.errors import ConfigError
from actors.products import DEFAULT_PRODUCTS, ProductSpec, fallback_spec, load_products

NIFTY = DEFAULT_PRODUCTS["NIFTY"]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**6), st.sampled_from([0.05, 0.1, 0.25, 2.5, 5.0, 50.0, 100.0]))
def test_every_multiple_of_the_step_is_on_the_grid(n: int, step: float) -> None:
    spec = ProductSpec(name="X", strike_step=step, lot_size=1)
    assert spec.on_grid(n * step)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**5), st.floats(0.01, 0.99))
def test_a_strike_between_two_grid_points_is_off_the_grid(n: int, frac: float) -> None:
    assert not NIFTY.on_grid((n + frac) * NIFTY.strike_step)


@pytest.mark.parametrize(("strike", "on"), [(26000.0, True), (26050, True), (26010.0, False)])
def test_nifty_strikes_are_on_a_fifty_point_grid(strike: float, on: bool) -> None:
    assert NIFTY.on_grid(strike) is on


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-6, 1e9))
def test_the_fallback_spec_accepts_any_positive_strike(strike: float) -> None:
    assert fallback_spec("ACME").on_grid(strike)


def test_without_a_file_the_defaults_are_loaded_as_a_copy() -> None:
    loaded = load_products(None)
    loaded.pop("NIFTY")
    assert (set(load_products(None)), "NIFTY" in DEFAULT_PRODUCTS) == (
        {"NIFTY", "BANKNIFTY", "FINNIFTY"},
        True,
    )


def test_a_products_file_replaces_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_text(
        "[[products]]\n"
        'name = "SENSEX"\n'
        "strike_step = 100\n"
        "lot_size = 20\n"
        "expiry_time = 15:30:00\n"
        "rate = 0.06\n"
        "\n"
        "[[products]]\n"
        'name = "CRUDE"\n'
        "strike_step = 0.5\n"
        "lot_size = 100\n"
        'tz = "America/New_York"\n'
        "expiry_time = 14:30:00\n"
        "monthly_only = true\n"
    )
    assert load_products(path) == {
        "SENSEX": ProductSpec(
            name="SENSEX", strike_step=100.0, lot_size=20, expiry_time=dt.time(15, 30), rate=0.06
        ),
        "CRUDE": ProductSpec(
            name="CRUDE",
            strike_step=0.5,
            lot_size=100,
            tz="America/New_York",
            expiry_time=dt.time(14, 30),
            monthly_only=True,
        ),
    }


@pytest.mark.parametrize(
    "text",
    [
        "[[products]\nname = 'X'\n",  # not TOML
        "[[products]]\nstrike_step = 1\nlot_size = 1\n",  # name missing
        "[[products]]\nname = 'X'\nstrike_step = 'wide'\nlot_size = 1\n",  # mistyped
        "[[products]]\nname = 'X'\nstrike_step = 1\nlot_size = 1\ncolour = 'red'\n",  # unknown
        "[[product]]\nname = 'X'\nstrike_step = 1\nlot_size = 1\n",  # wrong table name
        "products = 3\n",
    ],
)
def test_a_bad_products_file_is_a_config_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "products.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"products\.toml"):
        load_products(path)


def test_a_missing_products_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml"):
        load_products(tmp_path / "absent.toml")


def test_a_products_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_bytes(b"[[products]]\nname = '\xff'\nstrike_step = 1\nlot_size = 1\n")
    with pytest.raises(ConfigError, match=r"products\.toml"):
        load_products(path)


def test_a_products_file_with_an_unknown_time_zone_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "products.toml"
    path.write_text("[[products]]\nname = 'X'\nstrike_step = 1\nlot_size = 1\ntz = 'Mars/Base'\n")
    with pytest.raises(ConfigError, match="Mars/Base"):
        load_products(path)
