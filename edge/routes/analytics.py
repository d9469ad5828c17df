"""``/api/analytics``: summaries, PCR, max pain and ATM IV (each live or with history), the
IV surface, OI build-up and OHLC bars. The numbers come from the actors (live) or from the
archive/stream (history, see ``edge.routes.history``); the edge only reshapes."""

from __future__ import annotations

import collections

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors import subjects
from edge.errors import UpstreamError
from edge.history.params import history_query
from edge.routes.access import admit
from edge.routes.data import decode_chain
from edge.routes.history import (
    AtmIvPoint,
    MaxPainPoint,
    PcrPoint,
    Pick,
    history_response,
    latest_summary,
    project,
    require_history_flag,
    resolve_expiry,
)
from edge.routes.params import (
    ExpiryQuery,
    HistoryFlagQuery,
    OhlcQuery,
    json_response,
    product_param,
    query,
    raw_json,
)
from edge.state import edge_state

__all__ = [
    "atm_iv",
    "max_pain",
    "ohlc",
    "oi_buildup",
    "pcr",
    "routes",
    "summaries",
    "summary",
    "volatility_surface",
]


class _PcrPoint(msgspec.Struct, frozen=True):
    """The PCR fields of a summary (the rest of it is ignored when decoding)."""

    product: str
    expiry: str
    ts: int
    seq: int
    pcr_oi: float | None
    pcr_volume: float | None
    call_oi: int
    put_oi: int
    call_volume: int
    put_volume: int


_pcr_decoder = msgspec.json.Decoder(_PcrPoint)


class _ChainId(msgspec.Struct, frozen=True):
    product: str
    expiry: str


def _pcr(raw: bytes) -> _PcrPoint:
    try:
        return _pcr_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError("the actor service sent a malformed summary") from exc


def _expiry(q: ExpiryQuery | HistoryFlagQuery) -> str | None:
    return q.expiry.isoformat() if q.expiry else None


_pcr_point = project(PcrPoint)
_max_pain_point = project(MaxPainPoint)
_atm_iv_point = project(AtmIvPoint)


async def _summary_history(
    request: Request, q: HistoryFlagQuery, pick: Pick | None = None
) -> Response | None:
    """The history answer of a summary-based route, or None when history was not asked."""
    hq = history_query(request)
    require_history_flag(hq, q.history)
    if q.history != "true":
        return None
    st = edge_state(request)
    product = product_param(request)
    expiry = await resolve_expiry(st, product, _expiry(q))
    return await history_response(
        st,
        hq,
        subject=subjects.analytics_summary(product, expiry),
        head={"product": product, "expiry": expiry},
        pick=pick,
        product=product,
        expiry=expiry,
    )


async def summary(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, HistoryFlagQuery)
    if (answer := await _summary_history(request, q)) is not None:
        return answer
    return raw_json(await edge_state(request).snapshots.summary(product, _expiry(q)))


async def summaries(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    raw = await edge_state(request).snapshots.summaries(product)
    head = b'{"product":"' + product.encode() + b'","summaries":'
    return Response(head + raw + b"}", media_type="application/json")


async def pcr(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, HistoryFlagQuery)
    hq = history_query(request)
    require_history_flag(hq, q.history)
    st = edge_state(request)
    now = _pcr(await latest_summary(st, product, _expiry(q)))
    body: dict[str, object] = {
        "product": now.product,
        "expiry": now.expiry,
        "ts": now.ts,
        "pcr_oi": now.pcr_oi,
        "pcr_volume": now.pcr_volume,
        "call_oi": now.call_oi,
        "put_oi": now.put_oi,
        "call_volume": now.call_volume,
        "put_volume": now.put_volume,
    }
    if q.history != "true":
        return json_response(body)
    return await history_response(
        st,
        hq,
        subject=subjects.analytics_summary(product, now.expiry),
        head=body,
        pick=_pcr_point,
        product=product,
        expiry=now.expiry,
    )


async def max_pain(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, HistoryFlagQuery)
    if (answer := await _summary_history(request, q, _max_pain_point)) is not None:
        return answer
    return raw_json(await edge_state(request).snapshots.max_pain(product, _expiry(q)))


async def atm_iv(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, HistoryFlagQuery)
    if (answer := await _summary_history(request, q, _atm_iv_point)) is not None:
        return answer
    raw = await latest_summary(edge_state(request), product, _expiry(q))
    try:
        head = msgspec.json.decode(raw, type=_ChainId)
        point = msgspec.json.decode(raw, type=AtmIvPoint)
    except msgspec.DecodeError as exc:
        raise UpstreamError("the actor service sent a malformed summary") from exc
    return json_response(
        {"product": head.product, "expiry": head.expiry, **msgspec.structs.asdict(point)}
    )


async def volatility_surface(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    return raw_json(await edge_state(request).snapshots.surface(product))


async def oi_buildup(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, ExpiryQuery)
    c = decode_chain(await edge_state(request).snapshots.chain(product, _expiry(q)))
    strikes = [
        {
            "strike": k,
            "call": {
                "buildup": c.calls.buildup[i],
                "oi": c.calls.oi[i],
                "oi_change": c.calls.oi_change[i],
                "ltp": c.calls.ltp[i],
            },
            "put": {
                "buildup": c.puts.buildup[i],
                "oi": c.puts.oi[i],
                "oi_change": c.puts.oi_change[i],
                "ltp": c.puts.ltp[i],
            },
        }
        for i, k in enumerate(c.strikes)
    ]
    # Tallying the labels the actors assigned; the labels themselves are theirs.
    calls = collections.Counter(c.calls.buildup)
    puts = collections.Counter(c.puts.buildup)
    return json_response(
        {
            "product": c.product,
            "expiry": c.expiry,
            "ts": c.ts,
            "spot": c.spot,
            "counts": {"calls": dict(calls), "puts": dict(puts), "total": dict(calls + puts)},
            "strikes": strikes,
        }
    )


async def ohlc(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, OhlcQuery)
    raw = await edge_state(request).snapshots.ohlc(product, interval=q.interval, limit=q.limit)
    head = b'{"product":"' + product.encode() + b'","interval":"' + q.interval.encode()
    return Response(head + b'","bars":' + raw + b"}", media_type="application/json")


routes = [
    Route("/api/analytics/summary/{product}", summary, methods=["GET"]),
    Route("/api/analytics/summaries/{product}", summaries, methods=["GET"]),
    Route("/api/analytics/pcr/{product}", pcr, methods=["GET"]),
    Route("/api/analytics/max-pain/{product}", max_pain, methods=["GET"]),
    Route("/api/analytics/atm-iv/{product}", atm_iv, methods=["GET"]),
    Route("/api/analytics/volatility-surface/{product}", volatility_surface, methods=["GET"]),
    Route("/api/analytics/oi-buildup/{product}", oi_buildup, methods=["GET"]),
    Route("/api/analytics/ohlc/{product}", ohlc, methods=["GET"]),
]
