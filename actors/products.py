"""What deltastream knows about each product: strike grid, lot, exchange clock, carry.

Defaults are the NSE index options; ``config/products.toml`` (or the file named by the
``products_file`` setting) replaces them. A product not listed is accepted with the
fallback spec unless products are restricted (setting ``restrict_products``).
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from actors.analytics import expiry
from actors.errors import ConfigError

__all__ = ["DEFAULT_PRODUCTS", "ProductSpec", "fallback_spec", "load_products", "nearest_expiry"]


# Every message names the same few expiries: remember the answers (bounded).
@functools.lru_cache(maxsize=4096)
def _expiry_ns(expiry_date: dt.date, expiry_time: dt.time, tz: str) -> int:
    return expiry.expiry_instant_ns(expiry_date, expiry_time=expiry_time, tz=tz)


class ProductSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    strike_step: float
    lot_size: int
    tz: str = "Asia/Kolkata"
    expiry_time: dt.time = dt.time(15, 30)
    rate: float = 0.065
    dividend_yield: float = 0.012
    # Only the synthetic feed uses these two.
    reference_spot: float = 1000.0
    monthly_only: bool = False

    def expires_ns(self, expiry: dt.date) -> int:
        """The instant (epoch ns) an expiry of this product expires."""
        return _expiry_ns(expiry, self.expiry_time, self.tz)

    def on_grid(self, strike: float) -> bool:
        if self.strike_step <= 0:  # no grid known: any positive strike is accepted
            return True
        steps = strike / self.strike_step
        return abs(steps - round(steps)) <= 1e-9 * max(1.0, abs(steps))


# Lot sizes as revised by NSE for 2026 contracts; strike steps of the liquid series.
DEFAULT_PRODUCTS: dict[str, ProductSpec] = {
    p.name: p
    for p in (
        ProductSpec(name="NIFTY", strike_step=50, lot_size=65, reference_spot=26000.0),
        ProductSpec(
            name="BANKNIFTY",
            strike_step=100,
            lot_size=30,
            reference_spot=59000.0,
            monthly_only=True,
        ),
        ProductSpec(
            name="FINNIFTY",
            strike_step=50,
            lot_size=60,
            reference_spot=27500.0,
            monthly_only=True,
        ),
    )
}


def fallback_spec(name: str) -> ProductSpec:
    """Spec for a product that is not configured: no strike grid, lot of one."""
    return ProductSpec(name=name, strike_step=0.0, lot_size=1)


class _ProductsFile(msgspec.Struct, forbid_unknown_fields=True):
    products: list[ProductSpec]


def load_products(path: Path | str | None) -> dict[str, ProductSpec]:
    if path is None:
        return dict(DEFAULT_PRODUCTS)
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        parsed = msgspec.convert(raw, _ProductsFile, strict=False)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(f"products file {path}: {exc}") from exc
    for spec in parsed.products:
        try:
            ZoneInfo(spec.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"products file {path}: {spec.name}: unknown time zone {spec.tz!r}"
            ) from exc
        if spec.strike_step < 0 or spec.lot_size <= 0:
            raise ConfigError(
                f"products file {path}: {spec.name}: strike_step and lot_size must be positive"
            )
    return {p.name: p for p in parsed.products}


def nearest_expiry(every: list[str], live: list[str]) -> str | None:
    """What a request without an expiry means: the nearest expiry still live at the
    product's clock, else (every chain has expired) the latest one; sorted ISO dates in."""
    if live:
        return live[0]
    return every[-1] if every else None
