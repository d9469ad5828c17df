"""The OpenAPI 3.0 document of every HTTP route, and the routes that serve it.

``GET /api/docs`` answers the JSON document; ``GET /api/docs/ui`` a small self-contained
HTML page listing the operations (no CDN). When ``auth_required`` is on, data and analytics
operations declare the bearer scheme as mandatory; with an API rate limit they declare 429.
``tests/edge/test_openapi.py`` runs schemathesis against the live server with this document.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from actors.log_events import LEVELS
from edge.history.params import MAX_SEQ
from edge.openapi_components import SCHEMAS, STR, Schema, obj, ref
from edge.routes.params import json_response
from edge.state import edge_state

__all__ = [
    "build_document",
    "docs",
    "docs_ui",
    "routes",
]

_ERROR_TEXT = {
    400: "Bad request: a bad history range, limit or cursor (the detail names the problem)",
    401: "Missing, malformed, tampered or expired token",
    404: "Unknown product, expiry, strike or route",
    409: "The user already exists",
    413: "Request body too large",
    422: "A parameter or body field failed validation (the detail names it)",
    429: "Too many attempts or requests (see Retry-After)",
    502: "The actor service failed",
    503: "The actor service, NATS or a stream is unavailable, or a chain is restarting",
    504: "The actor service or JetStream did not answer in time",
}
_UPSTREAM = (502, 503, 504)
_PRODUCT = {
    "name": "product",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
    "description": "Product, case-insensitive (NIFTY)",
}
_EXPIRY = {
    "name": "expiry",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "format": "date"},
    "description": "ISO date; the nearest live expiry when absent",
}


_HISTORY_FLAG = {
    "name": "history",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
    "description": "true: a page of history (newest first) instead of the live value",
}


def _instant(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": f"{what}: ISO-8601 with a UTC offset (2026-11-25T10:00:00Z; a bare date "
        "is midnight UTC) or epoch milliseconds, on the messages' own ts",
    }


def _sequence(name: str, what: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_SEQ},
        "description": f"{what}: an ANALYTICS stream sequence (the points' analytics_seq); "
        "from_seq must be below to_seq when both are given, and both combine with from/to",
    }


_CURSOR = {
    "name": "cursor",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "next_cursor of the previous page (opaque; send the same range with it)",
}


def _history_params(what: str) -> list[Schema]:
    return [
        _limit(1000, 100, what),
        _instant("from", "Oldest ts included"),
        _instant("to", "ts to stop before"),
        _sequence("from_seq", "Oldest seq included"),
        _sequence("to_seq", "seq to stop before"),
        _CURSOR,
    ]


def _either(live: str, history: str) -> Schema:
    return {"anyOf": [ref(live), ref(history)]}


def _limit(maximum: int, default: int | None, what: str) -> Schema:
    schema: Schema = {"type": "integer", "minimum": 1, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": schema,
        "description": what,
    }


def _op(
    summary: str,
    ok: str | Schema | None,
    errors: tuple[int, ...],
    *,
    params: list[Schema] | None = None,
    body: str | None = None,
    body_required: bool = True,
    ok_status: int = 200,
    tag: str = "data",
    secured: bool = False,
    media: str = "application/json",
) -> Schema:
    ok_schema = ref(ok) if isinstance(ok, str) else ok or {"type": "string"}
    ok_content = {media: {"schema": ok_schema}}
    responses: dict[str, Any] = {str(ok_status): {"description": "OK", "content": ok_content}}
    for status in errors:
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    op: Schema = {
        "summary": summary,
        "tags": [tag],
        "parameters": params or [],
        "responses": responses,
    }
    if body is not None:
        op["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": ref(body)}},
        }
    if secured:
        op["security"] = [{"bearerAuth": []}]
    return op


def build_document(*, auth_required: bool, api_limited: bool = False) -> Schema:
    guard: tuple[int, ...] = ((401,) if auth_required else ()) + ((429,) if api_limited else ())
    sec = {"secured": auth_required}
    p, e = [_PRODUCT], [_PRODUCT, _EXPIRY]
    data_err = (*guard, 404, 422, *_UPSTREAM)
    paths: dict[str, Any] = {
        "/api/data/products": {
            "get": _op("Live products and their expiries", "Products", (*guard, *_UPSTREAM), **sec)
        },
        "/api/data/expiries/{product}": {
            "get": _op("Live expiries of a product", "Expiries", data_err, params=p, **sec)
        },
        "/api/data/underlying/{product}": {
            "get": _op(
                "Enriched underlying ticks, newest first, a page at a time (archive or stream)",
                "UnderlyingHistory",
                (400, *data_err),
                params=[_PRODUCT, *_history_params("How many ticks")],
                **sec,
            )
        },
        "/api/data/chain/{product}": {
            "get": _op(
                "Enriched chain as rows per strike",
                "Chain",
                (*data_err, 400),
                params=[*e, _limit(1000, None, "Strikes nearest the ATM strike")],
                **sec,
            )
        },
        "/api/data/option/quote/{symbol}": {
            "get": _op(
                "One option by exchange symbol (NIFTY26DEC24000CE, NIFTY26D0124000PE)",
                "OptionQuote",
                (400, *data_err),
                params=[
                    {
                        "name": "symbol",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 64},
                    }
                ],
                **sec,
            )
        },
        "/api/analytics/summary/{product}": {
            "get": _op(
                "Chain summary of one expiry, or a page of its history",
                _either("Summary", "SummaryHistory"),
                (400, *data_err),
                params=[*e, _HISTORY_FLAG, *_history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/summaries/{product}": {
            "get": _op(
                "Summaries of every live expiry",
                "Summaries",
                data_err,
                params=p,
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/pcr/{product}": {
            "get": _op(
                "Put-call ratio, optionally with a page of its history (newest first)",
                "Pcr",
                (400, *data_err),
                tag="analytics",
                params=[*e, _HISTORY_FLAG, *_history_params("History points")],
                **sec,
            )
        },
        "/api/analytics/max-pain/{product}": {
            "get": _op(
                "Max pain strike, distance from spot and payout curve, or a page of its history",
                _either("MaxPain", "MaxPainHistory"),
                (400, *data_err),
                params=[*e, _HISTORY_FLAG, *_history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/atm-iv/{product}": {
            "get": _op(
                "ATM strike and IV, forward, straddle and expected moves, or a page of history",
                _either("AtmIv", "AtmIvHistory"),
                (400, *data_err),
                params=[*e, _HISTORY_FLAG, *_history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/volatility-surface/{product}": {
            "get": _op(
                "IV surface as published", "Surface", data_err, params=p, tag="analytics", **sec
            )
        },
        "/api/analytics/oi-buildup/{product}": {
            "get": _op(
                "OI build-up label per strike and counts",
                "OiBuildup",
                (400, *data_err),
                params=e,
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/ohlc/{product}": {
            "get": _op(
                "Closed OHLC bars of the underlying, oldest first",
                "Ohlc",
                (400, *data_err),
                tag="analytics",
                params=[
                    _PRODUCT,
                    {
                        "name": "interval",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["1m", "5m", "15m"], "default": "1m"},
                    },
                    _limit(500, 100, "How many bars"),
                ],
                **sec,
            )
        },
        "/api/auth/register": {
            "post": _op(
                "Create an account; answers a token",
                "TokenReply",
                (400, 409, 413, 422, 503),
                body="Credentials",
                ok_status=201,
                tag="auth",
            )
        },
        "/api/auth/login": {
            "post": _op(
                "Log in; answers a token",
                "TokenReply",
                (401, 413, 422, 429, 503),
                body="Credentials",
                tag="auth",
            )
        },
        "/api/auth/verify": {
            "post": _op(
                "Check a token (Authorization header or body)",
                "Verified",
                (401, 413, 422),
                body="TokenBody",
                body_required=False,
                tag="auth",
            )
        },
        "/api/auth/refresh": {
            "post": _op(
                "A fresh token for a valid one", "TokenReply", (401, 503), tag="auth", secured=True
            )
        },
        "/api/auth/me": {
            "get": _op("The caller's account", "Me", (401, 503), tag="auth", secured=True)
        },
        "/api/logs": {
            "post": _op(
                "Store log events of a program outside (one, or a list of up to 100)",
                "LogsAccepted",
                (*guard, 413, 422, 429, 503, 504),
                body="LogPost",
                ok_status=202,
                tag="logs",
                **sec,
            )
        },
        "/api/logs/{service}": {
            "get": _op(
                "Recent log events of a service, newest first, at or above a level",
                "Logs",
                (*guard, 422, 503, 504),
                params=[
                    {
                        "name": "service",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$"},
                        "description": "actors, edge, feed, record, up or a posting program's",
                    },
                    {
                        "name": "level",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": list(LEVELS), "default": "debug"},
                        "description": "Minimum level",
                    },
                    _limit(1000, 100, "How many events"),
                ],
                tag="logs",
                **sec,
            )
        },
        "/health": {
            "get": _op(
                "Readiness: NATS, streams, actor host (503 when not ready); Redis and MongoDB "
                "when configured (degraded, still 200, when they are down)",
                "Health",
                (503,),
                tag="ops",
            )
        },
        "/health/live": {"get": _op("Liveness: the process answers", None, (), tag="ops")},
        "/metrics": {"get": _op("Prometheus metrics", None, (), tag="ops", media="text/plain")},
        "/api/docs": {"get": _op("This document", None, (), tag="ops")},
    }
    paths["/health"]["get"]["responses"]["503"]["content"]["application/json"]["schema"] = ref(
        "Health"
    )
    paths["/health/live"]["get"]["responses"]["200"]["content"]["application/json"] = {
        "schema": obj(["status"], status=STR)
    }
    paths["/api/docs"]["get"]["responses"]["200"]["content"]["application/json"] = {
        "schema": {"type": "object"}
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "deltastream edge",
            "version": "0.1.0",
            "description": "Live option analytics over REST. Every error is JSON "
            '{"error": code, "detail": reason}. Socket.IO is served at /socket.io.',
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _document(request: Request) -> Schema:
    settings = edge_state(request).settings
    return build_document(
        auth_required=settings.auth_required, api_limited=settings.api_requests_per_minute > 0
    )


async def docs(request: Request) -> Response:
    return json_response(_document(request))


async def docs_ui(request: Request) -> Response:
    doc = _document(request)
    items = "".join(
        f"<li><code>{method.upper()} {html.escape(path)}</code> — {html.escape(op['summary'])}</li>"
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    )
    page = (
        "<!doctype html><meta charset=utf-8><title>deltastream API</title>"
        "<style>body{font:15px system-ui;margin:2em}code{background:#eee;padding:2px}</style>"
        f"<h1>deltastream edge API</h1><p>JSON document: <a href=/api/docs>/api/docs</a></p>"
        f"<ul>{items}</ul>"
    )
    return HTMLResponse(page)


routes = [
    Route("/api/docs", docs, methods=["GET"]),
    Route("/api/docs/ui", docs_ui, methods=["GET"]),
]
