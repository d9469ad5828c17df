"""REST routes against the real uvicorn server, NATS and actor host."""

from __future__ import annotations

import asyncio
import json
import math
import re
from typing import Any

import nats
import pytest

from actors import subjects
from actors.analytics.surface import CALENDAR_TOL_TOTAL_VARIANCE
from actors.analytics.svi import LEE_SLOPE_MAX
from tests.conftest import WAIT_S, wait_published
from tests.edge.conftest import Edge, EdgeFactory
from tests.feeding import START_NS, STEP_NS, market, session

NEAR, MID, MONTHLY = "2026-12-01", "2026-12-08", "2026-12-29"  # the synthetic NIFTY expiries
EXPIRIES = (NEAR, MID, MONTHLY)

# The tests below redo the actors' float64 arithmetic on the numbers the edge served, so the
# two sides may differ by rounding only.
SAME_ARITHMETIC_RTOL = 1e-12
LOG_MONEYNESS_TOL = 1e-12  # dimensionless
SVI_RMSE_RTOL = 1e-9  # the actors' RMSE is summed in scaled units, in another order
# E|F_T − K| at K = F over the 1σ move, for a lognormal forward: √(2/π) ≈ 0.80 (DESIGN §4).
# The ATM strike sits up to half a strike step off the forward, hence a loose tolerance.
STRADDLE_TO_SIGMA_MOVE = math.sqrt(2.0 / math.pi)
STRADDLE_TO_SIGMA_MOVE_RTOL = 0.02


async def test_products_and_expiries_list_the_live_chains(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        products = (await c.get("/api/data/products")).json()["products"]
        expiries = (await c.get("/api/data/expiries/nifty")).json()
    assert [p["product"] for p in products] == ["NIFTY"]
    assert products[0]["expiries"] == [NEAR, MID, MONTHLY]
    assert expiries == {
        "product": "NIFTY",
        "expiries": [NEAR, MID, MONTHLY],
        "live_expiries": [NEAR, MID, MONTHLY],
        "nearest_expiry": NEAR,
    }


@pytest.mark.parametrize(
    ("path", "status", "code", "names"),
    [
        ("/api/data/expiries/NOPE", 404, "unknown_product", "NOPE"),
        ("/api/data/expiries/bad$name", 422, "invalid_parameter", "path.product"),
        ("/api/data/underlying/NIFTY?limit=0", 400, "bad_range", "query.limit"),
        ("/api/data/underlying/NIFTY?limit=1001", 400, "bad_range", "query.limit"),
        ("/api/data/underlying/NIFTY?limit=x", 400, "bad_range", "query.limit"),
        ("/api/data/underlying/NIFTY?limit=1&limit=2", 400, "bad_range", "query.limit"),
        ("/api/data/underlying/NOPE", 404, "unknown_product", "NOPE"),
        ("/api/data/chain/NIFTY?expiry=2026-13-01", 422, "invalid_parameter", "query.expiry"),
        ("/api/data/chain/NIFTY?expiry=2027-01-05", 404, "not_found", "2027-01-05"),
        ("/api/data/chain/NIFTY?limit=-1", 422, "invalid_parameter", "query.limit"),
        ("/api/analytics/summary/NOPE", 404, "not_found", "NOPE"),
        ("/api/analytics/summary/NIFTY?expiry=tomorrow", 422, "invalid_parameter", "expiry"),
        ("/api/analytics/summaries/NOPE", 404, "not_found", "NOPE"),
        ("/api/analytics/pcr/NIFTY?history=yes", 422, "invalid_parameter", "query.history"),
        ("/api/analytics/pcr/NIFTY?history=true&limit=0", 400, "bad_range", "query.limit"),
        ("/api/analytics/max-pain/NOPE", 404, "not_found", "NOPE"),
        ("/api/analytics/max-pain/NIFTY?expiry=2020-01-01", 404, "not_found", "2020-01-01"),
        ("/api/analytics/volatility-surface/NOPE", 404, "not_found", "NOPE"),
        ("/api/analytics/oi-buildup/NIFTY?expiry=01-12-2026", 422, "invalid_parameter", "expiry"),
        ("/api/analytics/ohlc/NIFTY?interval=2m", 422, "invalid_parameter", "query.interval"),
        ("/api/analytics/ohlc/NIFTY?limit=501", 422, "invalid_parameter", "query.limit"),
        ("/api/analytics/ohlc/NOPE", 404, "not_found", "NOPE"),
        ("/api/nothing/here", 404, "not_found", "Not Found"),
    ],
)
async def test_bad_inputs_get_a_json_error_naming_the_problem(
    fed_edge: Edge, path: str, status: int, code: str, names: str
) -> None:
    async with fed_edge.client() as c:
        r = await c.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == code
    assert names in body["detail"]


async def test_wrong_method_is_405_json(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        r = await c.post("/api/data/products")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"


async def test_underlying_history_is_newest_first_and_limited(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        ticks = (await c.get("/api/data/underlying/NIFTY?limit=3")).json()["ticks"]
        everything = (await c.get("/api/data/underlying/NIFTY")).json()["ticks"]
    assert len(ticks) == 3
    assert [t["seq"] for t in ticks] == sorted((t["seq"] for t in ticks), reverse=True)
    assert len(everything) == 5  # opening tick + 4 steps
    assert ticks == everything[:3]


async def test_chain_rows_are_the_strikes_nearest_atm(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        full = (await c.get(f"/api/data/chain/NIFTY?expiry={MONTHLY}")).json()
        near = (await c.get(f"/api/data/chain/NIFTY?expiry={MONTHLY}&limit=5")).json()
    assert full["expiry"] == MONTHLY and len(full["rows"]) == full["n_strikes"] == 41
    strikes = [r["strike"] for r in near["rows"]]
    assert strikes == sorted(strikes) and len(strikes) == 5
    assert near["atm_strike"] == strikes[2]
    row = next(r for r in full["rows"] if r["strike"] == near["atm_strike"])
    assert row == near["rows"][2]
    assert set(row["call"]) >= {"bid", "ask", "ltp", "iv", "delta", "gamma", "vega", "theta",
                                "rho", "oi", "oi_change", "volume", "buildup"}  # fmt: skip


async def test_option_quote_resolves_monthly_and_weekly_symbols(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        monthly = (await c.get("/api/data/option/quote/NIFTY26DEC26000CE")).json()
        weekly = (await c.get("/api/data/option/quote/nifty26d0126000pe")).json()
        chain = (await c.get(f"/api/data/chain/NIFTY?expiry={NEAR}")).json()
    assert (monthly["expiry"], monthly["strike"], monthly["right"]) == (MONTHLY, 26000.0, "C")
    assert (weekly["expiry"], weekly["right"], weekly["symbol"]) == (NEAR, "P", "NIFTY26D0126000PE")
    row = next(r for r in chain["rows"] if r["strike"] == 26000.0)
    assert weekly["quote"] == row["put"]


@pytest.mark.parametrize(
    ("symbol", "status", "detail"),
    [
        ("NIFTY26DEC26000XX", 400, "CE (call) or PE (put)"),
        ("NIFTY26D3226000CE", 400, "no such date"),
        ("NIFTYCE", 400, "expected <PRODUCT>"),
        ("NIFTY26DEC0CE", 400, "strike must be positive"),
        ("X" * 70 + "CE", 400, "1 to 64 characters"),
        ("NOPE26DEC26000CE", 404, "unknown product"),
        ("NIFTY27JAN26000CE", 404, "no live NIFTY expiry in 2027-01"),
        ("NIFTY26D0226000CE", 404, "no live NIFTY expiry on 2026-12-02"),
        ("NIFTY26DEC26010CE", 404, "strike 26010"),
    ],
)
async def test_bad_or_unknown_symbols(
    fed_edge: Edge, symbol: str, status: int, detail: str
) -> None:
    async with fed_edge.client() as c:
        r = await c.get(f"/api/data/option/quote/{symbol}")
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


async def test_summary_and_summaries_are_the_actors_latest(fed_edge: Edge) -> None:
    nc = await nats.connect(fed_edge.nats_url)
    try:
        direct = json.loads(
            (await nc.request("deltastream.svc.summary", b'{"product":"NIFTY"}', timeout=5)).data
        )
    finally:
        await nc.close()
    async with fed_edge.client() as c:
        summary = (await c.get("/api/analytics/summary/NIFTY")).json()
        monthly = (await c.get(f"/api/analytics/summary/NIFTY?expiry={MONTHLY}")).json()
        every = (await c.get("/api/analytics/summaries/NIFTY")).json()
    assert summary == direct and summary["expiry"] == NEAR
    assert monthly["expiry"] == MONTHLY
    assert [s["expiry"] for s in every["summaries"]] == [NEAR, MID, MONTHLY]
    assert every["summaries"][0] == summary


async def test_pcr_history_is_newest_first_and_starts_with_the_current_value(
    fed_edge: Edge,
) -> None:
    # Two more steps once the first four are on ANALYTICS: at least two summaries of MID
    # are stored, however the actors coalesced each round (one batch can cost one publish).
    first, more = session(market(("NIFTY",)), 4), session(market(("NIFTY",)), 6)
    await fed_edge.feed_messages(more[len(first) :], until_stored=True)
    async with fed_edge.client() as c:
        now = (await c.get(f"/api/analytics/pcr/NIFTY?expiry={MID}")).json()
        hist = (await c.get(f"/api/analytics/pcr/NIFTY?expiry={MID}&history=true&limit=3")).json()
    assert "history" not in now and now["expiry"] == MID
    points = hist["history"]
    assert 2 <= len(points) <= 3  # limit=3; the actors coalesce queued updates
    assert [p["seq"] for p in points] == sorted((p["seq"] for p in points), reverse=True)
    assert points[0]["pcr_oi"] == now["pcr_oi"]


async def test_max_pain_comes_from_the_actor_service(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        mp = (await c.get(f"/api/analytics/max-pain/NIFTY?expiry={MONTHLY}")).json()
        summary = (await c.get(f"/api/analytics/summary/NIFTY?expiry={MONTHLY}")).json()
    assert mp["expiry"] == MONTHLY and mp["strike"] == summary["max_pain"]
    assert len(mp["strikes"]) == len(mp["payout"]) == 41
    assert mp["strike"] in mp["strikes"]


async def test_surface_and_oi_buildup(fed_edge: Edge) -> None:
    async with fed_edge.client() as c:
        surface = (await c.get("/api/analytics/volatility-surface/NIFTY")).json()
        buildup = (await c.get(f"/api/analytics/oi-buildup/NIFTY?expiry={NEAR}")).json()
        chain = (await c.get(f"/api/data/chain/NIFTY?expiry={NEAR}")).json()
    assert surface["product"] == "NIFTY" and "expiries" in surface
    assert len(buildup["strikes"]) == 41
    calls = [s["call"]["buildup"] for s in buildup["strikes"]]
    assert calls == [r["call"]["buildup"] for r in chain["rows"]]
    assert sum(buildup["counts"]["calls"].values()) == 41
    assert buildup["counts"]["calls"].get("long_buildup", 0) == calls.count("long_buildup")


def _close(a: float, b: float, rtol: float = SAME_ARITHMETIC_RTOL) -> bool:
    return math.isclose(a, b, rel_tol=rtol)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _otm_iv(chain: dict[str, Any]) -> list[float | None]:
    """Per strike, the IV of the out-of-the-money side: puts below the forward, calls at and
    above it (DESIGN §4, surface)."""
    f = chain["forward"]
    return [r["call" if r["strike"] >= f else "put"]["iv"] for r in chain["rows"]]


def _vol_at_the_money(log_moneyness: list[float], iv: list[float | None]) -> float:
    """The smile at k = 0: its point there (a forward on a strike), else linear in vol
    against k between the nearest usable points on either side."""
    points = [(k, v) for k, v in zip(log_moneyness, iv, strict=True) if v is not None]
    at_money = [v for k, v in points if k == 0.0]
    if at_money:
        return at_money[0]
    (k_lo, v_lo) = max(((k, v) for k, v in points if k < 0.0), key=lambda p: p[0])
    (k_hi, v_hi) = min(((k, v) for k, v in points if k > 0.0), key=lambda p: p[0])
    return v_lo + (v_hi - v_lo) * (-k_lo) / (k_hi - k_lo)


def _assert_atm_fields_match_the_chain(summary: dict[str, Any], chain: dict[str, Any]) -> None:
    assert summary["seq"] == chain["seq"], "the summary and the chain describe different states"
    f, t, r = summary["forward"], summary["t_years"], summary["rate"]
    assert (f, t) == (chain["forward"], chain["t_years"])
    strikes = [row["strike"] for row in chain["rows"]]
    # ATM: the strike nearest the forward, ties to the lower one.
    assert (
        summary["atm_strike"] == chain["atm_strike"] == min(strikes, key=lambda k: (abs(k - f), k))
    )
    row = chain["rows"][strikes.index(summary["atm_strike"])]
    assert _close(summary["straddle"], row["call"]["mid"] + row["put"]["mid"])
    k = [math.log(strike / f) for strike in strikes]
    assert _close(summary["atm_iv"], _vol_at_the_money(k, _otm_iv(chain)))
    assert _close(summary["expected_move"], f * summary["atm_iv"] * math.sqrt(t))
    assert _close(summary["expected_move_straddle"], summary["straddle"] * math.exp(r * t))
    # The two moves come from different prices (mids vs the IV solved from them): for a
    # lognormal market their ratio is fixed, so a wrong IV or T shows here.
    ratio = summary["expected_move_straddle"] / summary["expected_move"]
    assert _close(ratio, STRADDLE_TO_SIGMA_MOVE, STRADDLE_TO_SIGMA_MOVE_RTOL), ratio


async def test_summary_straddle_atm_iv_and_expected_moves_agree_with_the_chain(
    fed_edge: Edge,
) -> None:
    async with fed_edge.client() as c:
        every = (await c.get("/api/analytics/summaries/NIFTY")).json()["summaries"]
        for expiry, listed in zip(EXPIRIES, every, strict=True):
            one = (await c.get(f"/api/analytics/summary/NIFTY?expiry={expiry}")).json()
            chain = (await c.get(f"/api/data/chain/NIFTY?expiry={expiry}")).json()
            atm = (await c.get(f"/api/analytics/atm-iv/NIFTY?expiry={expiry}")).json()
            assert one["expiry"] == listed["expiry"] == chain["expiry"] == expiry
            _assert_atm_fields_match_the_chain(one, chain)
            _assert_atm_fields_match_the_chain(listed, chain)
            # /atm-iv is the same summary's ATM fields, not a second computation.
            assert atm == {key: one[key] for key in atm}
            assert set(atm) >= {"atm_strike", "atm_iv", "straddle", "expected_move"}


async def test_max_pain_distance_is_strike_minus_spot_and_the_payout_curve_bottoms_there(
    fed_edge: Edge,
) -> None:
    async with fed_edge.client() as c:
        for expiry in EXPIRIES:
            mp = (await c.get(f"/api/analytics/max-pain/NIFTY?expiry={expiry}")).json()
            chain = (await c.get(f"/api/data/chain/NIFTY?expiry={expiry}")).json()
            summary = (await c.get(f"/api/analytics/summary/NIFTY?expiry={expiry}")).json()
            assert mp["spot"] == chain["spot"] == summary["spot"]
            assert mp["distance"] == pytest.approx(
                mp["strike"] - mp["spot"], rel=SAME_ARITHMETIC_RTOL
            )
            assert summary["max_pain_distance"] == mp["distance"]
            # The curve DESIGN §4 defines, from the chain's own open interest: payout to
            # holders if settled at S = Σ callOI·max(0, S−K) + putOI·max(0, K−S). Whole
            # strikes and OI make every term an integer, so it is exact.
            rows = chain["rows"]
            assert mp["strikes"] == [r["strike"] for r in rows]
            assert mp["payout"] == [
                sum(
                    r["call"]["oi"] * max(0.0, s - r["strike"])
                    + r["put"]["oi"] * max(0.0, r["strike"] - s)
                    for r in rows
                )
                for s in mp["strikes"]
            ]
            # list.index finds the first minimum: ties go to the lowest strike.
            lowest = mp["payout"].index(min(mp["payout"]))
            assert mp["strike"] == mp["strikes"][lowest] == chain["max_pain"]


def _surface_t_years(body: dict[str, Any]) -> dict[str, float | None]:
    return {s["expiry"]: s["t_years"] for s in body["expiries"]}


async def test_surface_slices_are_the_chains_otm_smiles_with_term_structure_wings_and_svi(
    fed_edge: Edge,
) -> None:
    async with fed_edge.client() as c:
        chains = {e: (await c.get(f"/api/data/chain/NIFTY?expiry={e}")).json() for e in EXPIRIES}
        atm_iv = {
            s["expiry"]: s["atm_iv"]
            for s in (await c.get("/api/analytics/summaries/NIFTY")).json()["summaries"]
        }
    # Smiles reach the surface rate-limited, after the summaries: wait for a surface of the
    # chains' last state (T moves with every feed ts) before comparing the two.
    final = {e: chain["t_years"] for e, chain in chains.items()}
    nc = await nats.connect(fed_edge.nats_url)
    try:
        await wait_published(
            nc, subjects.analytics_surface("NIFTY"), lambda b: _surface_t_years(b) == final
        )
    finally:
        await nc.close()
    async with fed_edge.client() as c:
        surface = (await c.get("/api/analytics/volatility-surface/NIFTY")).json()
    assert surface["product"] == "NIFTY" and _surface_t_years(surface) == final

    for sl in surface["expiries"]:
        chain = chains[sl["expiry"]]
        f, strikes = sl["forward"], sl["strikes"]
        assert f == chain["forward"] and strikes == [r["strike"] for r in chain["rows"]]
        assert len(strikes) == len(sl["iv"]) == len(sl["log_moneyness"]) == chain["n_strikes"]
        for k, strike in zip(sl["log_moneyness"], strikes, strict=True):
            assert k == pytest.approx(math.log(strike / f), abs=LOG_MONEYNESS_TOL)
        assert sl["iv"] == _otm_iv(chain)
        ivs = [v for v in sl["iv"] if v is not None]
        assert len(ivs) == len(strikes)  # a liquid synthetic chain: every strike has an IV
        assert _close(sl["atm_iv"], atm_iv[sl["expiry"]])
        assert _close(sl["atm_iv"], _vol_at_the_money(sl["log_moneyness"], sl["iv"]))
        # The 25Δ wing vols are interpolated between smile points, never extrapolated, so
        # RR and BF can be no wider than the smile itself.
        width = max(ivs) - min(ivs)
        assert _finite(sl["rr25"]) and abs(sl["rr25"]) <= width, sl["rr25"]
        assert _finite(sl["bf25"]) and abs(sl["bf25"]) <= width, sl["bf25"]
        _assert_svi_fits_the_slice(sl)

    terms = surface["term_structure"]
    assert [t["expiry"] for t in terms] == list(EXPIRIES)
    for term, sl in zip(terms, surface["expiries"], strict=True):
        assert (term["t_years"], term["atm_iv"]) == (sl["t_years"], sl["atm_iv"])
        assert _close(term["total_variance"], sl["atm_iv"] ** 2 * sl["t_years"])
    # Calendar arbitrage: some earlier expiry holds more ATM total variance.
    flags = [
        any(
            e["total_variance"] > t["total_variance"] + CALENDAR_TOL_TOTAL_VARIANCE
            for e in terms[:i]
        )
        for i, t in enumerate(terms)
    ]
    assert [t["calendar_arbitrage"] for t in terms] == flags
    assert surface["calendar_arbitrage"] == any(flags)


def _assert_svi_fits_the_slice(sl: dict[str, Any]) -> None:
    """Raw SVI w(k) = a + b·(ρ·(k − m) + √((k − m)² + σ²)) inside its constraints, and its
    published RMSE (in vol) is that of these parameters against this slice's smile."""
    p = sl["svi"]
    assert p is not None, f"{sl['expiry']}: no SVI fit"
    a, b, rho, m, sigma = (p[name] for name in ("a", "b", "rho", "m", "sigma"))
    assert all(_finite(x) for x in (a, b, rho, m, sigma)), p
    assert b >= 0.0 and abs(rho) < 1.0 and sigma > 0.0
    assert a + b * sigma * math.sqrt(1.0 - rho * rho) >= 0.0  # total variance never < 0
    assert b * (1.0 + abs(rho)) <= LEE_SLOPE_MAX  # Lee's wing bound
    t = sl["t_years"]
    squared = [
        (math.sqrt(max(a + b * (rho * (k - m) + math.hypot(k - m, sigma)), 0.0) / t) - iv) ** 2
        for k, iv in zip(sl["log_moneyness"], sl["iv"], strict=True)
        if iv is not None
    ]
    assert _close(sl["svi_rmse_vol"], math.sqrt(sum(squared) / len(squared)), SVI_RMSE_RTOL)
    assert isinstance(sl["svi_butterfly_arbitrage"], bool)


async def test_ohlc_bars_after_a_minute_of_feed_time(edge: Edge) -> None:
    minute_steps = 60_000_000_000 // STEP_NS + 4
    m = market(rows_per_batch=2, weekly=1, monthly=0, strikes_each_side=5)
    await edge.feed_messages(session(m, minute_steps))
    async with edge.client() as c:
        bars = (await c.get("/api/analytics/ohlc/NIFTY?interval=1m&limit=5")).json()
        five = (await c.get("/api/analytics/ohlc/NIFTY?interval=5m")).json()
    assert bars["interval"] == "1m" and len(bars["bars"]) >= 1
    bar = bars["bars"][0]
    assert bar["low"] <= bar["open"] <= bar["high"] and bar["start_ns"] >= START_NS - 60 * 10**9
    assert five == {"product": "NIFTY", "interval": "5m", "bars": []}


async def test_actor_service_down_is_503_not_500(fed_edge: Edge) -> None:
    host = fed_edge.host
    assert host.service is not None
    await host.service.stop()
    host.service = None  # already stopped: the fixture's teardown must not stop it again
    async with fed_edge.client() as c:
        r = await c.get("/api/analytics/summary/NIFTY")
    assert r.status_code == 503
    assert r.json() == {"error": "unavailable", "detail": "the actor service is not running"}


async def test_a_fresh_published_summary_is_served_as_received_then_ages_out(
    edge_factory: EdgeFactory,
) -> None:
    # No actor holds ZZZ: only the edge's copy of the published message can answer 200.
    subject = "deltastream.analytics.summary.ZZZ.2026-12-01"
    path = "/api/analytics/summary/ZZZ?expiry=2026-12-01"
    body = b'{"product":"ZZZ","expiry":"2026-12-01","seq":7,"spot":101.5}'
    caching = await edge_factory(snapshot_max_age_s=2.0)
    asking = await edge_factory(snapshot_max_age_s=0.0)
    nc = await nats.connect(caching.nats_url)
    try:
        await nc.publish(subject, b'{"not json')
        await wait_metric(caching, "deltastream_edge_nats_messages_invalid_total", 1)
        async with caching.client() as c:
            assert (await c.get(path)).status_code == 404  # invalid JSON is never served
            async with asyncio.timeout(WAIT_S):
                while (r := await c.get(path)).status_code != 200:
                    await nc.publish(subject, body)  # again: each one is fresh for 2 s
            assert r.content == body and r.headers["content-type"] == "application/json"
            async with asyncio.timeout(WAIT_S):
                while (await c.get(path)).status_code != 404:
                    # older than 2 s: the actors are asked (404); what is awaited is an age
                    await asyncio.sleep(0.1)  # (noqa: sleep-ok)
        await wait_metric(asking, "deltastream_edge_nats_messages_in_total", 2, kind="summary")
        async with asking.client() as c:
            assert (await c.get(path)).status_code == 404
    finally:
        await nc.close()


async def wait_metric(edge: Edge, name: str, at_least: float, **labels: str) -> None:
    pattern = rf"^{name}(\{{[^}}]*\}})? (\S+)$"
    async with asyncio.timeout(WAIT_S), edge.client() as c:
        while True:
            text = (await c.get("/metrics")).text
            for m in re.finditer(pattern, text, re.M):
                if all(f'{k}="{v}"' in (m.group(1) or "") for k, v in labels.items()):
                    if float(m.group(2)) >= at_least:
                        return
            await asyncio.sleep(0.05)  # /metrics is the only view (noqa: sleep-ok)
