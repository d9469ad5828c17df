"""``/api/data``: products, expiries, underlying history (archive or stream, paged), the
enriched chain, one option."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors import subjects
from actors.messages import ChainSide, EnrichedChain
from edge.errors import NotFound, UnknownExpiry, UnknownProduct, UpstreamError
from edge.history.params import history_query
from edge.routes.access import admit
from edge.routes.history import history_response
from edge.routes.params import ChainQuery, json_response, product_param, query
from edge.state import edge_state
from edge.symbols import parse_symbol

__all__ = [
    "chain",
    "decode_chain",
    "expiries",
    "option_quote",
    "products",
    "routes",
    "side_row",
    "underlying",
]

_SIDE_FIELDS = (
    "bid", "ask", "ltp", "mid", "iv", "delta", "gamma", "vega", "theta", "rho",
    "oi", "oi_change", "volume", "buildup",
)  # fmt: skip
_STRIKE_MATCH_ABS = 1e-6  # strikes are exchange prices: equal to far better than this


def decode_chain(raw: bytes) -> EnrichedChain:
    try:
        return msgspec.json.decode(raw, type=EnrichedChain)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise UpstreamError("the actor service sent a malformed chain") from exc


def side_row(side: ChainSide, i: int) -> dict[str, Any]:
    return {name: getattr(side, name)[i] for name in _SIDE_FIELDS}


def _chain_head(chain: EnrichedChain) -> dict[str, Any]:
    return {
        "product": chain.product,
        "expiry": chain.expiry,
        "ts": chain.ts,
        "seq": chain.seq,
        "spot": chain.spot,
        "forward": chain.forward,
        "forward_source": chain.forward_source,
        "t_years": chain.t_years,
        "atm_strike": chain.atm_strike,
        "max_pain": chain.max_pain,
    }


def _nearest_atm(chain: EnrichedChain, limit: int | None) -> list[int]:
    n = len(chain.strikes)
    if limit is None or limit >= n:
        return list(range(n))
    center = chain.atm_strike or chain.forward or chain.spot or chain.strikes[n // 2]
    # Ranking strikes by distance to the ATM strike is selection, not analytics.
    chosen = sorted(range(n), key=lambda i: (abs(chain.strikes[i] - center), chain.strikes[i]))
    return sorted(chosen[:limit])


async def products(request: Request) -> Response:
    await admit(request)
    raw = await edge_state(request).snapshots.products()
    return Response(b'{"products":' + raw + b"}", media_type="application/json")


async def expiries(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    found = await edge_state(request).snapshots.expiries(product)
    live = found.expiries if found.live_expiries is None else found.live_expiries
    return json_response(
        {
            "product": product,
            "expiries": found.expiries,
            "live_expiries": live,
            "nearest_expiry": found.nearest_expiry,
        }
    )


async def underlying(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    return await history_response(
        edge_state(request),
        history_query(request),
        subject=subjects.analytics_underlying(product),
        head={"product": product},
        items_key="ticks",
        product=product,
    )


async def chain(request: Request) -> Response:
    await admit(request)
    product = product_param(request)
    q = query(request, ChainQuery)
    expiry = q.expiry.isoformat() if q.expiry else None
    c = decode_chain(await edge_state(request).snapshots.chain(product, expiry))
    rows = [
        {"strike": c.strikes[i], "call": side_row(c.calls, i), "put": side_row(c.puts, i)}
        for i in _nearest_atm(c, q.limit)
    ]
    return json_response({**_chain_head(c), "n_strikes": len(c.strikes), "rows": rows})


async def option_quote(request: Request) -> Response:
    await admit(request)
    st = edge_state(request)
    product_map = await st.snapshots.product_map()
    sym = parse_symbol(str(request.path_params["symbol"]), product_map)
    if sym.product not in product_map:
        raise UnknownProduct(f"unknown product {sym.product!r}")
    live = product_map[sym.product]
    if sym.day is None:
        prefix = f"{sym.year:04d}-{sym.month:02d}-"
        in_month = [e for e in live if e.startswith(prefix)]
        if not in_month:
            raise UnknownExpiry(f"no live {sym.product} expiry in {sym.year:04d}-{sym.month:02d}")
        expiry = in_month[-1]  # the monthly contract is the month's last expiry
    else:
        expiry = f"{sym.year:04d}-{sym.month:02d}-{sym.day:02d}"
        if expiry not in live:
            raise UnknownExpiry(f"no live {sym.product} expiry on {expiry}")
    c = decode_chain(await st.snapshots.chain(sym.product, expiry))
    index = next(
        (i for i, k in enumerate(c.strikes) if abs(k - sym.strike) <= _STRIKE_MATCH_ABS), None
    )
    if index is None:
        raise NotFound(f"strike {sym.strike:g} is not in the {sym.product} {expiry} chain")
    side = c.calls if sym.right == "C" else c.puts
    return json_response(
        {
            **_chain_head(c),
            "symbol": str(request.path_params["symbol"]).strip().upper(),
            "strike": c.strikes[index],
            "right": sym.right,
            "quote": side_row(side, index),
        }
    )


routes = [
    Route("/api/data/products", products, methods=["GET"]),
    Route("/api/data/expiries/{product}", expiries, methods=["GET"]),
    Route("/api/data/underlying/{product}", underlying, methods=["GET"]),
    Route("/api/data/chain/{product}", chain, methods=["GET"]),
    Route("/api/data/option/quote/{symbol}", option_quote, methods=["GET"]),
]
