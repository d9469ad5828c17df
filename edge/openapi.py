"""The OpenAPI 3.0 document of every HTTP route, and the routes that serve it.

``GET /api/docs`` answers the JSON document; ``GET /api/docs/ui`` a small self-contained
HTML page listing the operations (no CDN). When ``auth_required`` is on, data and analytics
operations declare the bearer scheme as mandatory; with an API rate limit they declare 429.
``tests/edge/test_openapi.py`` runs schemathesis against the live server with this document.
The operations and shared parameters are built in ``edge.openapi_params``, the schemas
in ``edge.openapi_components``.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from actors.log_events import LEVELS
from edge.openapi_components import SCHEMAS, STR, Schema, obj, ref
from edge.openapi_params import (
    EXPIRY,
    HISTORY_FLAG,
    PRODUCT,
    UPSTREAM,
    either,
    history_params,
    limit,
    op,
    param,
)
from edge.routes.params import json_response
from edge.state import edge_state

__all__ = [
    "build_document",
    "docs",
    "docs_ui",
    "routes",
]


def build_document(*, auth_required: bool, api_limited: bool = False) -> Schema:
    guard: tuple[int, ...] = ((401,) if auth_required else ()) + ((429,) if api_limited else ())
    sec = {"secured": auth_required}
    p, e = [PRODUCT], [PRODUCT, EXPIRY]
    data_err = (*guard, 404, 422, *UPSTREAM)
    paths: dict[str, Any] = {
        "/api/data/products": {
            "get": op("Live products and their expiries", "Products", (*guard, *UPSTREAM), **sec)
        },
        "/api/data/expiries/{product}": {
            "get": op("Live expiries of a product", "Expiries", data_err, params=p, **sec)
        },
        "/api/data/underlying/{product}": {
            "get": op(
                "Enriched underlying ticks, newest first, a page at a time (archive or stream)",
                "UnderlyingHistory",
                (400, *data_err),
                params=[PRODUCT, *history_params("How many ticks")],
                **sec,
            )
        },
        "/api/data/chain/{product}": {
            "get": op(
                "Enriched chain as rows per strike",
                "Chain",
                (*data_err, 400),
                params=[*e, limit(1000, None, "Strikes nearest the ATM strike")],
                **sec,
            )
        },
        "/api/data/option/quote/{symbol}": {
            "get": op(
                "One option by exchange symbol (NIFTY26DEC24000CE, NIFTY26D0124000PE)",
                "OptionQuote",
                (400, *data_err),
                params=[
                    param("symbol", "path", {"type": "string", "minLength": 1, "maxLength": 64})
                ],
                **sec,
            )
        },
        "/api/analytics/summary/{product}": {
            "get": op(
                "Chain summary of one expiry, or a page of its history",
                either("Summary", "SummaryHistory"),
                (400, *data_err),
                params=[*e, HISTORY_FLAG, *history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/summaries/{product}": {
            "get": op(
                "Summaries of every live expiry",
                "Summaries",
                data_err,
                params=p,
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/pcr/{product}": {
            "get": op(
                "Put-call ratio, optionally with a page of its history (newest first)",
                "Pcr",
                (400, *data_err),
                tag="analytics",
                params=[*e, HISTORY_FLAG, *history_params("History points")],
                **sec,
            )
        },
        "/api/analytics/max-pain/{product}": {
            "get": op(
                "Max pain strike, distance from spot and payout curve, or a page of its history",
                either("MaxPain", "MaxPainHistory"),
                (400, *data_err),
                params=[*e, HISTORY_FLAG, *history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/atm-iv/{product}": {
            "get": op(
                "ATM strike and IV, forward, straddle and expected moves, or a page of history",
                either("AtmIv", "AtmIvHistory"),
                (400, *data_err),
                params=[*e, HISTORY_FLAG, *history_params("History points")],
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/volatility-surface/{product}": {
            "get": op(
                "IV surface as published", "Surface", data_err, params=p, tag="analytics", **sec
            )
        },
        "/api/analytics/oi-buildup/{product}": {
            "get": op(
                "OI build-up label per strike and counts",
                "OiBuildup",
                (400, *data_err),
                params=e,
                tag="analytics",
                **sec,
            )
        },
        "/api/analytics/ohlc/{product}": {
            "get": op(
                "Closed OHLC bars of the underlying, oldest first",
                "Ohlc",
                (400, *data_err),
                tag="analytics",
                params=[
                    PRODUCT,
                    param(
                        "interval",
                        "query",
                        {"type": "string", "enum": ["1m", "5m", "15m"], "default": "1m"},
                    ),
                    limit(500, 100, "How many bars"),
                ],
                **sec,
            )
        },
        "/api/auth/register": {
            "post": op(
                "Create an account; answers a token",
                "TokenReply",
                (400, 409, 413, 422, 503),
                body="Credentials",
                ok_status=201,
                tag="auth",
            )
        },
        "/api/auth/login": {
            "post": op(
                "Log in; answers a token",
                "TokenReply",
                (401, 413, 422, 429, 503),
                body="Credentials",
                tag="auth",
            )
        },
        "/api/auth/verify": {
            "post": op(
                "Check a token (Authorization header or body)",
                "Verified",
                (401, 413, 422),
                body="TokenBody",
                body_required=False,
                tag="auth",
            )
        },
        "/api/auth/refresh": {
            "post": op(
                "A fresh token for a valid one", "TokenReply", (401, 503), tag="auth", secured=True
            )
        },
        "/api/auth/me": {
            "get": op("The caller's account", "Me", (401, 503), tag="auth", secured=True)
        },
        "/api/logs": {
            "post": op(
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
            "get": op(
                "Recent log events of a service, newest first, at or above a level",
                "Logs",
                (*guard, 422, 503, 504),
                params=[
                    param(
                        "service",
                        "path",
                        {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,31}$"},
                        "actors, edge, feed, record, up or a posting program's",
                    ),
                    param(
                        "level",
                        "query",
                        {"type": "string", "enum": list(LEVELS), "default": "debug"},
                        "Minimum level",
                    ),
                    limit(1000, 100, "How many events"),
                ],
                tag="logs",
                **sec,
            )
        },
        "/health": {
            "get": op(
                "Readiness: NATS, streams, actor host (503 when not ready); Redis and MongoDB "
                "when configured (degraded, still 200, when they are down)",
                "Health",
                (503,),
                tag="ops",
            )
        },
        "/health/live": {"get": op("Liveness: the process answers", None, (), tag="ops")},
        "/metrics": {"get": op("Prometheus metrics", None, (), tag="ops", media="text/plain")},
        "/api/docs": {"get": op("This document", None, (), tag="ops")},
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
