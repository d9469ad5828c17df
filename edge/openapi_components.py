"""Schemas (``components.schemas``) of the edge's OpenAPI document; see ``edge.openapi``.

They describe what the routes answer: the actors' payloads passed through (summary, surface,
max pain, bars) and the edge's own reshapes (chain rows, build-up, PCR, auth replies).
Upstream objects stay open (no ``additionalProperties: false``): new fields get added.
"""

from __future__ import annotations

from typing import Any

__all__ = ["INT", "SCHEMAS", "STR", "Schema", "arr", "obj", "ref"]

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], **props: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": props}


NUM: Schema = {"type": "number"}
NUM_N: Schema = {"type": "number", "nullable": True}
INT: Schema = {"type": "integer"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}


def arr(items: Schema) -> Schema:
    return {"type": "array", "items": items}


_SIDE = obj(
    [
        "bid",
        "ask",
        "ltp",
        "mid",
        "iv",
        "delta",
        "gamma",
        "vega",
        "theta",
        "rho",
        "oi",
        "oi_change",
        "volume",
        "buildup",
    ],
    bid=NUM_N,
    ask=NUM_N,
    ltp=NUM_N,
    mid=NUM_N,
    iv=NUM_N,
    delta=NUM_N,
    gamma=NUM_N,
    vega=NUM_N,
    theta=NUM_N,
    rho=NUM_N,
    oi=INT,
    oi_change=INT,
    volume=INT,
    buildup=STR,
)
_CHAIN_HEAD: dict[str, Schema] = {
    "product": STR,
    "expiry": STR,
    "ts": INT,
    "seq": INT,
    "spot": NUM_N,
    "forward": NUM_N,
    "forward_source": STR,
    "t_years": NUM_N,
    "atm_strike": NUM_N,
    "max_pain": NUM_N,
}
_SUMMARY_FIELDS: dict[str, Schema] = {
    **{k: v for k, v in _CHAIN_HEAD.items() if k not in ("atm_strike", "max_pain")},
    "stream_seq": INT,
    "rate": NUM,
    "pcr_oi": NUM_N,
    "pcr_volume": NUM_N,
    "max_pain": NUM_N,
    "max_pain_distance": NUM_N,
    "atm_strike": NUM_N,
    "atm_iv": NUM_N,
    "straddle": NUM_N,
    "expected_move": NUM_N,
    "expected_move_straddle": NUM_N,
    "call_oi": INT,
    "put_oi": INT,
    "call_oi_change": INT,
    "put_oi_change": INT,
    "call_volume": INT,
    "put_volume": INT,
    "buildup": {"type": "object", "additionalProperties": INT},
    "call_buildup": STR,
    "put_buildup": STR,
    "n_strikes": INT,
    "published_ns": INT,
}
_TICK = obj(
    ["ts", "product", "price"],
    ts=INT,
    product=STR,
    price=NUM,
    change=NUM_N,
    change_pct=NUM_N,
    day_open=NUM_N,
    day_high=NUM_N,
    day_low=NUM_N,
    seq=INT,
    published_ns=INT,
)
_BAR = obj(
    ["product", "interval", "start_ns", "end_ns", "open", "high", "low", "close", "ticks"],
    product=STR,
    interval=STR,
    start_ns=INT,
    end_ns=INT,
    open=NUM,
    high=NUM,
    low=NUM,
    close=NUM,
    ticks=INT,
)
_SMILE = obj(
    ["expiry", "strikes", "iv"],
    expiry=STR,
    t_years=NUM_N,
    forward=NUM_N,
    strikes=arr(NUM),
    log_moneyness=arr(NUM_N),
    iv=arr(NUM_N),
    atm_iv=NUM_N,
    rr25=NUM_N,
    bf25=NUM_N,
    svi={"type": "object", "nullable": True, "additionalProperties": NUM_N},
    svi_rmse_vol=NUM_N,
    svi_butterfly_arbitrage={"type": "boolean", "nullable": True},
)
_PAGE: dict[str, Schema] = {
    "next_cursor": {
        "type": "string",
        "nullable": True,
        "description": "Pass as `cursor` for the next (older) page; null on the last page",
    },
    "source": {"type": "string", "enum": ["archive", "stream"]},
}
_PAGE_KEYS = ["next_cursor", "source"]
_ANALYTICS_SEQ: Schema = {
    "type": "integer",
    "minimum": 1,
    "description": "The point's ANALYTICS stream sequence: what from_seq and to_seq bound "
    "(seq counts what the actor applied)",
}


def _point(schema: Schema) -> Schema:
    """A history point: ``schema`` plus its ``analytics_seq``."""
    return {"allOf": [schema, obj(["analytics_seq"], analytics_seq=_ANALYTICS_SEQ)]}


_PCR_POINT = _point(
    obj(["ts", "seq", "pcr_oi", "pcr_volume"], ts=INT, seq=INT, pcr_oi=NUM_N, pcr_volume=NUM_N)
)
_MAX_PAIN_POINT = _point(
    obj(
        ["ts", "seq", "max_pain", "max_pain_distance", "spot"],
        ts=INT,
        seq=INT,
        max_pain=NUM_N,
        max_pain_distance=NUM_N,
        spot=NUM_N,
    )
)
_ATM_IV_FIELDS: dict[str, Schema] = {
    "ts": INT,
    "seq": INT,
    "atm_strike": NUM_N,
    "atm_iv": NUM_N,
    "forward": NUM_N,
    "t_years": NUM_N,
    "straddle": NUM_N,
    "expected_move": NUM_N,
    "expected_move_straddle": NUM_N,
}


def _history(point: Schema) -> Schema:
    return obj(
        ["product", "expiry", "history", *_PAGE_KEYS],
        product=STR,
        expiry=STR,
        history=arr(point),
        **_PAGE,
    )


_BUILDUP_SIDE = obj(["buildup", "oi", "oi_change"], buildup=STR, oi=INT, oi_change=INT, ltp=NUM_N)
_COUNTS = {"type": "object", "additionalProperties": INT}
_USER = obj(["username", "created_ns"], username=STR, created_ns=INT)

_LEVEL: Schema = {"type": "string", "enum": ["debug", "info", "warning", "error", "critical"]}
_LOG_ENTRY: Schema = {
    **obj(
        ["service", "level", "message"],
        service={"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$"},
        level=_LEVEL,
        message={"type": "string", "minLength": 1, "maxLength": 4096},
        fields={
            "type": "object",
            "maxProperties": 32,
            "description": "Facts; names match ^[A-Za-z_][A-Za-z0-9_]{0,63}$ and may not be "
            "timestamp, level, service, event, host, pid, logger, origin, client, user or "
            "client_ts_ns; string values at most 1024 characters",
            "additionalProperties": {
                "nullable": True,
                "anyOf": [
                    {"type": "string", "maxLength": 1024},
                    {"type": "integer"},
                    {"type": "number"},
                    {"type": "boolean"},
                ],
            },
        },
        ts_ns={"type": "integer", "minimum": 0, "description": "The program's clock, epoch ns"},
    ),
    "additionalProperties": False,
}

# Every chain's expiry; those not yet expired at the product's feed clock; the default one.
_EXPIRY_LISTS: dict[str, Schema] = {
    "expiries": arr(STR),
    "live_expiries": arr(STR),
    "nearest_expiry": {
        "type": "string",
        "nullable": True,
        "description": "The default expiry: the nearest not yet expired at the product's "
        "feed clock, else the latest",
    },
}

SCHEMAS: dict[str, Schema] = {
    "Error": obj(["error", "detail"], error=STR, detail=STR),
    "Product": obj(
        ["product", "expiries"],
        product=STR,
        **_EXPIRY_LISTS,
        strike_step=NUM,
        lot_size=INT,
        tz=STR,
        expiry_time=STR,
    ),
    "Products": obj(["products"], products=arr(ref("Product"))),
    "Expiries": obj(["product", "expiries"], product=STR, **_EXPIRY_LISTS),
    "UnderlyingTick": _TICK,
    "UnderlyingHistory": obj(
        ["product", "ticks", *_PAGE_KEYS],
        product=STR,
        ticks=arr(_point(ref("UnderlyingTick"))),
        **_PAGE,
    ),
    "Quote": _SIDE,
    "Chain": obj(
        [*_CHAIN_HEAD, "n_strikes", "rows"],
        **_CHAIN_HEAD,
        n_strikes=INT,
        rows=arr(obj(["strike", "call", "put"], strike=NUM, call=ref("Quote"), put=ref("Quote"))),
    ),
    "OptionQuote": obj(
        [*_CHAIN_HEAD, "symbol", "strike", "right", "quote"],
        **_CHAIN_HEAD,
        symbol=STR,
        strike=NUM,
        right={"type": "string", "enum": ["C", "P"]},
        quote=ref("Quote"),
    ),
    "Summary": obj(["product", "expiry", "ts", "seq", "pcr_oi", "atm_iv"], **_SUMMARY_FIELDS),
    "SummaryHistory": _history(_point(ref("Summary"))),
    "Summaries": obj(["product", "summaries"], product=STR, summaries=arr(ref("Summary"))),
    "Pcr": obj(
        ["product", "expiry", "ts", "pcr_oi", "pcr_volume"],
        product=STR,
        expiry=STR,
        ts=INT,
        pcr_oi=NUM_N,
        pcr_volume=NUM_N,
        call_oi=INT,
        put_oi=INT,
        call_volume=INT,
        put_volume=INT,
        history=arr(_PCR_POINT),
        **_PAGE,
    ),
    "MaxPainHistory": _history(_MAX_PAIN_POINT),
    "AtmIv": obj(["product", "expiry", *_ATM_IV_FIELDS], product=STR, expiry=STR, **_ATM_IV_FIELDS),
    "AtmIvHistory": _history(_point(obj(list(_ATM_IV_FIELDS), **_ATM_IV_FIELDS))),
    "MaxPain": obj(
        ["product", "expiry", "strike", "strikes", "payout"],
        product=STR,
        expiry=STR,
        strike=NUM_N,
        spot=NUM_N,
        distance=NUM_N,
        strikes=arr(NUM),
        payout=arr(NUM_N),
    ),
    "Surface": obj(
        ["product", "ts", "expiries", "term_structure"],
        product=STR,
        ts=INT,
        expiries=arr(_SMILE),
        term_structure=arr({"type": "object"}),
        calendar_arbitrage=BOOL,
        pcr_oi=NUM_N,
        pcr_volume=NUM_N,
        published_ns=INT,
    ),
    "OiBuildup": obj(
        ["product", "expiry", "counts", "strikes"],
        product=STR,
        expiry=STR,
        ts=INT,
        spot=NUM_N,
        counts=obj(["calls", "puts", "total"], calls=_COUNTS, puts=_COUNTS, total=_COUNTS),
        strikes=arr(
            obj(["strike", "call", "put"], strike=NUM, call=_BUILDUP_SIDE, put=_BUILDUP_SIDE)
        ),
    ),
    "Ohlc": obj(["product", "interval", "bars"], product=STR, interval=STR, bars=arr(_BAR)),
    "Health": obj(
        ["status", "checks"],
        status={"type": "string", "enum": ["ok", "degraded", "unavailable"]},
        checks={
            "type": "object",
            "additionalProperties": obj(["ok", "detail"], ok=BOOL, detail=STR),
        },
        degraded=arr(STR),
        error=STR,
        detail=STR,
    ),
    "Credentials": {
        **obj(
            ["username", "password"],
            username={
                "type": "string",
                "minLength": 3,
                "maxLength": 32,
                "pattern": "^[A-Za-z0-9_-]+$",
            },
            password={"type": "string", "minLength": 10, "maxLength": 128},
        ),
        "additionalProperties": False,
    },
    "TokenBody": {
        **obj(["token"], token={"type": "string", "minLength": 1, "maxLength": 4096}),
        "additionalProperties": False,
    },
    "TokenReply": obj(
        ["token", "token_type", "expires_at", "user"],
        token=STR,
        token_type={"type": "string", "enum": ["Bearer"]},
        expires_at=INT,
        user=_USER,
    ),
    "Verified": obj(["valid", "username", "expires_at"], valid=BOOL, username=STR, expires_at=INT),
    "LogEntry": _LOG_ENTRY,
    "LogPost": {
        "description": "One event, or a list of 1 to 100; the whole body at most 64 KiB",
        "oneOf": [
            ref("LogEntry"),
            {"type": "array", "minItems": 1, "maxItems": 100, "items": ref("LogEntry")},
        ],
    },
    "LogsAccepted": obj(["accepted"], accepted=INT),
    "LogEvent": {
        **obj(["event", "level"], event=STR, level=STR),
        "description": "timestamp, level, service, event, host, pid, logger, then facts "
        "(posted events: origin, client, user?, client_ts_ns?, fields)",
        "additionalProperties": True,
    },
    "Logs": obj(
        ["service", "level", "events"], service=STR, level=_LEVEL, events=arr(ref("LogEvent"))
    ),
    "Me": obj(
        ["username", "created_ns", "expires_at"], username=STR, created_ns=INT, expires_at=INT
    ),
}
