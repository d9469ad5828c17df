"""A seeded synthetic option market (no I/O): spot by GBM with jumps, an SVI smile with a
term structure, spreads that widen away from the money, OI and volume that evolve.

``SyntheticMarket.open()`` yields one full chain snapshot per expiry; each ``step(ts_ns)``
moves spot and yields an underlying tick plus, per chain, a batch of the rows that changed.
Messages are the feed contract's dicts, ready to encode as JSON.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from actors import subjects
from actors.analytics import black76, expiry, svi
from actors.feeds.calendar import upcoming_expiries
from actors.products import ProductSpec

__all__ = ["FeedMessage", "SyntheticMarket"]

STRIKES_EACH_SIDE = 50  # 101 strikes per expiry
TICK_SIZE = 0.05  # NSE option tick, rupees
ANNUAL_VOL = 0.13
JUMP_PROB_PER_STEP = 0.002
JUMP_SIZE_REL = 0.004
SECONDS_PER_YEAR = 365 * 86400.0
TRADING_SECONDS_PER_YEAR = 252 * 6.25 * 3600.0


@dataclass(frozen=True, slots=True)
class FeedMessage:
    subject: str
    payload: dict[str, Any]


@dataclass
class _Chain:
    expiry: dt.date
    expiry_ns: int
    strikes: np.ndarray
    svi: svi.SviParams
    oi: np.ndarray  # shape (2, n): calls, puts
    volume: np.ndarray
    last: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _round_tick(x: np.ndarray) -> np.ndarray:
    return np.maximum(np.round(x / TICK_SIZE) * TICK_SIZE, TICK_SIZE)


class SyntheticMarket:
    def __init__(
        self,
        specs: Sequence[ProductSpec],
        *,
        seed: int,
        start_ns: int,
        rows_per_batch: int = 20,
        weekly: int = 4,
        monthly: int = 2,
        strikes_each_side: int = STRIKES_EACH_SIDE,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.specs = list(specs)
        self.rows_per_batch = rows_per_batch
        self.now_ns = start_ns
        self.spot: dict[str, float] = {}
        self.chains: dict[str, list[_Chain]] = {}
        for spec in self.specs:
            self.spot[spec.name] = spec.reference_spot
            # The exchange's date; once today's expiry time has passed, count from tomorrow.
            today = expiry.session_date(start_ns, tz=spec.tz)
            if (
                expiry.expiry_instant_ns(today, expiry_time=spec.expiry_time, tz=spec.tz)
                <= start_ns
            ):
                today += dt.timedelta(days=1)
            dates = upcoming_expiries(
                today,
                weekly=0 if spec.monthly_only else weekly,
                monthly=max(monthly, 4) if spec.monthly_only else monthly,
            )
            atm = round(spec.reference_spot / spec.strike_step) * spec.strike_step
            strikes = atm + spec.strike_step * np.arange(-strikes_each_side, strikes_each_side + 1)
            chains = []
            for i, d in enumerate(dates):
                exp_ns = expiry.expiry_instant_ns(d, expiry_time=spec.expiry_time, tz=spec.tz)
                if exp_ns <= start_ns:
                    continue
                t = (exp_ns - start_ns) / (SECONDS_PER_YEAR * 1e9)
                chains.append(
                    _Chain(
                        expiry=d,
                        expiry_ns=exp_ns,
                        strikes=strikes.astype(float),
                        svi=self._smile_params(t, i),
                        oi=self._initial_oi(strikes, atm, spec),
                        volume=np.zeros((2, strikes.size), dtype=np.int64),
                    )
                )
            self.chains[spec.name] = chains

    # ------------------------------------------------------------ model

    def _smile_params(self, t_years: float, i: int) -> svi.SviParams:
        atm_vol = 0.11 + 0.015 * math.exp(-t_years * 12) + 0.004 * i  # short end richer
        w_atm = atm_vol**2 * t_years
        sigma, rho = 0.12, -0.45
        # Half of the ATM total variance from the level a, half from the curvature term:
        # w(0) = a + b·σ, and the wings' slopes b·(1 ± ρ) scale with the expiry's variance.
        b = 0.5 * w_atm / sigma
        return svi.SviParams(a=0.5 * w_atm, b=b, rho=rho, m=0.0, sigma=sigma)

    def _initial_oi(self, strikes: np.ndarray, atm: float, spec: ProductSpec) -> np.ndarray:
        dist = (strikes - atm) / (spec.strike_step * 12)
        base = 2_000_000 * np.exp(-0.5 * dist**2) / spec.lot_size
        round_bonus = np.where(strikes % (spec.strike_step * 10) == 0, 1.8, 1.0)
        calls = base * round_bonus * np.where(strikes >= atm, 1.3, 0.6)
        puts = base * round_bonus * np.where(strikes <= atm, 1.4, 0.6)
        noise = self.rng.uniform(0.8, 1.2, size=(2, strikes.size))
        oi = np.vstack([calls, puts]) * noise
        return (np.round(oi) * spec.lot_size).astype(np.int64)

    def _quotes(self, spec: ProductSpec, c: _Chain, rows: np.ndarray) -> list[dict[str, Any]]:
        spot = self.spot[spec.name]
        t = (c.expiry_ns - self.now_ns) / (SECONDS_PER_YEAR * 1e9)
        fwd = spot * math.exp((spec.rate - spec.dividend_yield) * t)
        k = c.strikes[rows]
        vol = svi.implied_vol(c.svi, np.log(k / fwd), t)
        out: list[dict[str, Any]] = []
        for side, right in ((0, "C"), (1, "P")):
            fair = black76.price(
                fwd, strike=k, t_years=t, rate=spec.rate, vol=vol, is_call=side == 0
            )
            moneyness = np.abs(np.log(k / fwd)) / max(vol.mean() * math.sqrt(t), 1e-3)
            half = np.maximum(fair * (0.002 + 0.004 * moneyness), TICK_SIZE)
            bid = np.maximum(np.round((fair - half) / TICK_SIZE) * TICK_SIZE, 0.0)
            ask = _round_tick(fair + half)
            ltp = _round_tick(fair + self.rng.uniform(-1, 1, size=fair.size) * half)
            for j, row in enumerate(rows.tolist()):
                q: dict[str, Any] = {
                    "strike": float(c.strikes[row]),
                    "right": right,
                    "bid": float(bid[j]) if bid[j] > 0 else None,
                    "ask": float(ask[j]),
                    "ltp": float(ltp[j]),
                    "oi": int(c.oi[side, row]),
                    "volume": int(c.volume[side, row]),
                }
                out.append(q)
        return out

    # ------------------------------------------------------------ messages

    def open(self) -> Iterator[FeedMessage]:
        for spec in self.specs:
            yield self._underlying(spec)
            for c in self.chains[spec.name]:
                rows = np.arange(c.strikes.size)
                yield FeedMessage(
                    subjects.feed_chain(spec.name, c.expiry.isoformat()),
                    {
                        "ts": self.now_ns,
                        "product": spec.name,
                        "expiry": c.expiry.isoformat(),
                        "spot": self.spot[spec.name],
                        "quotes": self._quotes(spec, c, rows),
                    },
                )

    def _underlying(self, spec: ProductSpec) -> FeedMessage:
        return FeedMessage(
            subjects.feed_underlying(spec.name),
            {"ts": self.now_ns, "product": spec.name, "price": round(self.spot[spec.name], 2)},
        )

    def step(self, ts_ns: int) -> Iterator[FeedMessage]:
        dt_s = max((ts_ns - self.now_ns) / 1e9, 1e-3)
        self.now_ns = ts_ns
        dt_years = dt_s / TRADING_SECONDS_PER_YEAR
        for spec in self.specs:
            z = self.rng.standard_normal()
            jump = 0.0
            if self.rng.random() < JUMP_PROB_PER_STEP:
                jump = self.rng.choice((-1.0, 1.0)) * JUMP_SIZE_REL
            growth = -0.5 * ANNUAL_VOL**2 * dt_years + ANNUAL_VOL * math.sqrt(dt_years) * z
            self.spot[spec.name] *= math.exp(growth + jump)
            yield self._underlying(spec)
            for c in self.chains[spec.name]:
                if c.expiry_ns <= ts_ns:
                    continue
                n = c.strikes.size
                rows = np.sort(self.rng.choice(n, size=min(self.rows_per_batch, n), replace=False))
                traded = self.rng.poisson(3.0, size=(2, rows.size)) * spec.lot_size
                c.volume[:, rows] += traded
                oi_move = self.rng.integers(-2, 3, size=(2, rows.size)) * spec.lot_size
                c.oi[:, rows] = np.maximum(c.oi[:, rows] + oi_move, 0)
                yield FeedMessage(
                    subjects.feed_quotes(spec.name, c.expiry.isoformat()),
                    {
                        "ts": ts_ns,
                        "product": spec.name,
                        "expiry": c.expiry.isoformat(),
                        "quotes": self._quotes(spec, c, rows),
                    },
                )
