"""The forward and time to expiry a ``ChainBook`` prices its options with, worked out from
what a reprice kept (``PricingInputs``: the clock, the spot, copies of the two-sided quotes).
The book does that when they are first read, not at the reprice (``_reprice_inputs`` says why).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actors.analytics import chain, expiry, forward

__all__ = ["PricingInputs"]


@dataclass(frozen=True, slots=True)
class PricingInputs:
    """What a reprice fixes the forward and time to expiry from (copies, not views)."""

    as_of_ns: int
    spot: float
    strikes: np.ndarray
    bid: np.ndarray
    ask: np.ndarray

    def t_years(self, expiry_ns: int) -> float:
        """Years from ``as_of_ns`` to the expiry instant ``expiry_ns``."""
        # expiry.t_years, with the expiry instant computed once (the same exact division).
        return (expiry_ns - self.as_of_ns) / expiry.NS_PER_YEAR

    def forward_estimate(
        self, *, t_years: float, rate: float, dividend_yield: float
    ) -> forward.ForwardEstimate:
        """The put-call-parity forward (``forward.implied_forward``), else the carry one."""
        # Parity needs simultaneous two-sided quotes: a stale last trade would bias it.
        call_mid, put_mid = chain.mid_price(self.bid, self.ask)  # [side, row]
        return forward.implied_forward(
            self.strikes,
            call_mid=call_mid,
            put_mid=put_mid,
            spot=self.spot,
            t_years=t_years,
            rate=rate,
            dividend_yield=dividend_yield,
        )
