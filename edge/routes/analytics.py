"""``/api/analytics``: summaries, PCR (live and history), max pain, the IV surface, OI
build-up and OHLC bars. The numbers come from the actors; the edge only reshapes."""

from __future__ import annotations

import collections

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors import subjects
from edge.errors import UpstreamError
from edge.routes.data import decode_chain
from edge.routes.params import (
    ExpiryQuery,
    OhlcQuery,
    PcrQuery,
    json_response,
    product_param,
    query,
    raw_json,
)
from edge.state import edge_state, require_auth

__all__ = [
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


def _pcr(raw: bytes) -> _PcrPoint:
    try:
        return _pcr_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError("the actor service sent a malformed summary") from exc


def _expiry(q: ExpiryQuery | PcrQuery) -> str | None:
    return q.expiry.isoformat() if q.expiry else None


async def summary(request: Request) -> Response:
    require_auth(request)
    product = product_param(request)
    q = query(request, ExpiryQuery)
    return raw_json(await edge_state(request).snapshots.summary(product, _expiry(q)))


async def summaries(request: Request) -> Response:
    require_auth(request)
    product = product_param(request)
    raw = await edge_state(request).snapshots.summaries(product)
    head = b'{"product":"' + product.encode() + b'","summaries":'
    return Response(head + raw + b"}", media_type="application/json")


async def pcr(request: Request) -> Response:
    require_auth(request)
    product = product_param(request)
    q = query(request, PcrQuery)
    st = edge_state(request)
    now = _pcr(await st.snapshots.summary(product, _expiry(q)))
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
    if q.history == "true":
        raws = await st.history.latest(subjects.analytics_summary(product, now.expiry), q.limit)
        points = [_pcr(r) for r in raws]
        body["history"] = [
            {"ts": p.ts, "seq": p.seq, "pcr_oi": p.pcr_oi, "pcr_volume": p.pcr_volume}
            for p in points
        ]
    return json_response(body)


async def max_pain(request: Request) -> Response:
    require_auth(request)
    product = product_param(request)
    q = query(request, ExpiryQuery)
    return raw_json(await edge_state(request).snapshots.max_pain(product, _expiry(q)))


async def volatility_surface(request: Request) -> Response:
    require_auth(request)
    product = product_param(request)
    return raw_json(await edge_state(request).snapshots.surface(product))


async def oi_buildup(request: Request) -> Response:
    require_auth(request)
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
    require_auth(request)
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
    Route("/api/analytics/volatility-surface/{product}", volatility_surface, methods=["GET"]),
    Route("/api/analytics/oi-buildup/{product}", oi_buildup, methods=["GET"]),
    Route("/api/analytics/ohlc/{product}", ohlc, methods=["GET"]),
]
