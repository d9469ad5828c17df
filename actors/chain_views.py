"""The messages a chain publishes, built from its ``ChainBook``: summary, enriched chain,
max-pain curve and smile. Read-only: nothing here changes the book.

NaN becomes ``None`` on the way out (JSON has no NaN).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from actors.analytics import buildup, chain, chain_scan, surface, svi
from actors.messages import (
    BuildUpCounts,
    ChainSide,
    EnrichedChain,
    MaxPainCurve,
    SmileSlice,
    Summary,
)

if TYPE_CHECKING:
    from actors.chain_book import ChainBook

__all__ = ["enriched", "max_pain", "smile", "summary"]

CALL, PUT = 0, 1
_BUILDUP_LABELS = [b.label for b in sorted(buildup.BuildUp)]  # indexed by code


def _opt(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _opt_list(a: np.ndarray) -> list[float | None]:
    return [None if x != x else x for x in a.tolist()]  # x != x: NaN, without a call


def _header(book: ChainBook) -> dict[str, Any]:
    """The fields every per-chain message starts with."""
    return {
        "product": book.product,
        "expiry": book.expiry_str,
        "ts": book.as_of_ns,
        "seq": book.applied,
        "stream_seq": book.stream_seq,
        "spot": book.spot,
        "forward": book.forward,
        "forward_source": book.forward_source,
        "t_years": book.t_years,
        "rate": book.spec.rate,
    }


def summary(book: ChainBook, *, published_ns: int = 0) -> Summary:
    """OI and volume totals (and so the PCRs) are the book's running sums; the other
    aggregates come from one ``chain_scan`` pass over the rows."""
    call_oi, put_oi = book.oi_total.tolist()
    call_volume, put_volume = book.volume_total.tolist()
    totals = chain_scan.scan(
        book.strikes,
        oi=book.oi,
        oi_open=book.oi_open,
        ltp=book.ltp,
        ltp_open=book.ltp_open,
        payout=book.payout,
        reference=book.atm_reference(),
    )
    atm = totals.atm_index
    max_pain_strike = (
        float(book.strikes[totals.max_pain_index]) if totals.max_pain_index >= 0 else math.nan
    )
    atm_strike = float(book.strikes[atm]) if atm >= 0 else math.nan
    straddle = atm_iv = math.nan
    if atm >= 0:
        straddle = float(book.mid[CALL, atm] + book.mid[PUT, atm])
        atm_iv = book.atm_iv()
    moves = chain.expected_move(
        straddle_price=straddle,
        forward=book.forward,
        atm_vol=atm_iv,
        t_years=book.t_years,
        rate=book.spec.rate,
    )
    return Summary(
        **_header(book),
        pcr_oi=chain.pcr(put_oi, call_oi),
        pcr_volume=chain.pcr(put_volume, call_volume),
        max_pain=_opt(max_pain_strike),
        max_pain_distance=(_opt(max_pain_strike - book.spot) if book.spot is not None else None),
        atm_strike=atm_strike,
        atm_iv=atm_iv,
        straddle=straddle,
        expected_move=moves.sigma_move,
        expected_move_straddle=moves.straddle_move,
        call_oi=call_oi,
        put_oi=put_oi,
        call_oi_change=totals.call_oi_change,
        put_oi_change=totals.put_oi_change,
        call_volume=call_volume,
        put_volume=put_volume,
        buildup=BuildUpCounts(**totals.buildup_counts),
        call_buildup=totals.call_buildup.label,
        put_buildup=totals.put_buildup.label,
        n_strikes=int(book.strikes.size),
        published_ns=published_ns,
    )


def _side(book: ChainBook, s: int, codes: np.ndarray, oi_change: np.ndarray) -> ChainSide:
    def f(a: np.ndarray) -> list[float | None]:
        return _opt_list(a[s])

    return ChainSide(
        bid=f(book.bid),
        ask=f(book.ask),
        ltp=f(book.ltp),
        mid=f(book.mid),
        iv=f(book.iv),
        delta=f(book.delta),
        gamma=f(book.gamma),
        vega=f(book.vega),
        theta=f(book.theta),
        rho=f(book.rho),
        oi=book.oi[s].tolist(),
        oi_change=oi_change[s].tolist(),
        volume=book.volume[s].tolist(),
        buildup=[_BUILDUP_LABELS[c] for c in codes[s].tolist()],
    )


def enriched(book: ChainBook, *, published_ns: int = 0) -> EnrichedChain:
    codes, oi_change = book.buildup_codes(), book.oi_change()
    atm = book.atm_index()
    return EnrichedChain(
        **_header(book),
        atm_strike=float(book.strikes[atm]) if atm >= 0 else None,
        max_pain=_opt(book.max_pain_strike()),
        strikes=book.strikes.tolist(),
        calls=_side(book, CALL, codes, oi_change),
        puts=_side(book, PUT, codes, oi_change),
        published_ns=published_ns,
    )


def max_pain(book: ChainBook) -> MaxPainCurve:
    strike = _opt(book.max_pain_strike())
    return MaxPainCurve(
        product=book.product,
        expiry=book.expiry_str,
        strike=strike,
        spot=book.spot,
        distance=None if strike is None or book.spot is None else strike - book.spot,
        strikes=book.strikes.tolist(),
        payout=book.payout.tolist(),
    )


def smile(book: ChainBook) -> SmileSlice:
    """This expiry's slice of the IV surface, with a raw-SVI fit."""
    sm = surface.smile(
        book.strikes,
        call_iv=book.iv[CALL],
        put_iv=book.iv[PUT],
        forward=book.forward,
        t_years=book.t_years,
        fit_svi=True,
    )
    fit = sm.svi
    params = None
    arbitrage = None
    if fit is not None and fit.ok:
        p = fit.params
        params = {"a": p.a, "b": p.b, "rho": p.rho, "m": p.m, "sigma": p.sigma}
        arbitrage = svi.butterfly_arbitrage(
            fit.params, sm.log_moneyness[np.isfinite(sm.log_moneyness)]
        )
    return SmileSlice(
        expiry=book.expiry_str,
        t_years=_opt(book.t_years),
        forward=_opt(book.forward),
        strikes=book.strikes.tolist(),
        log_moneyness=_opt_list(sm.log_moneyness),
        iv=_opt_list(sm.otm_iv),
        atm_iv=_opt(sm.atm_iv),
        rr25=_opt(sm.rr25),
        bf25=_opt(sm.bf25),
        svi=params,
        svi_rmse_vol=_opt(fit.rmse_vol) if fit is not None else None,
        svi_butterfly_arbitrage=None if arbitrage is None else bool(arbitrage),
    )
