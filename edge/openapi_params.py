"""The pieces ``edge.openapi`` builds its path table from: operations and shared parameters.

``op`` makes one operation, with an ``Error`` response for each status it may answer; their
texts live here once, so every route words the same failure the same way. The parameters are
the ones several routes share: the product path, the expiry, a history page's range.
"""

from __future__ import annotations

from typing import Any

from edge.history.params import MAX_SEQ
from edge.openapi_components import Schema, ref

__all__ = [
    "EXPIRY",
    "HISTORY_FLAG",
    "PRODUCT",
    "UPSTREAM",
    "either",
    "history_params",
    "limit",
    "op",
    "param",
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
# What any route that asks the actors may answer when they fail or do not answer.
UPSTREAM = (502, 503, 504)


def param(name: str, where: str, schema: Schema, description: str | None = None) -> Schema:
    """One parameter: a path parameter is required, a query parameter is not."""
    p: Schema = {"name": name, "in": where, "required": where == "path", "schema": schema}
    if description is not None:
        p["description"] = description
    return p


PRODUCT = param(
    "product",
    "path",
    {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"},
    "Product, case-insensitive (NIFTY)",
)
EXPIRY = param(
    "expiry",
    "query",
    {"type": "string", "format": "date"},
    "ISO date; the nearest live expiry when absent",
)
HISTORY_FLAG = param(
    "history",
    "query",
    {"type": "string", "enum": ["true", "false"], "default": "false"},
    "true: a page of history (newest first) instead of the live value",
)


def _instant(name: str, what: str) -> Schema:
    return param(
        name,
        "query",
        {"type": "string"},
        f"{what}: ISO-8601 with a UTC offset (2026-11-25T10:00:00Z; a bare date "
        "is midnight UTC) or epoch milliseconds, on the messages' own ts",
    )


def _sequence(name: str, what: str) -> Schema:
    return param(
        name,
        "query",
        {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_SEQ},
        f"{what}: an ANALYTICS stream sequence (the points' analytics_seq); "
        "from_seq must be below to_seq when both are given, and both combine with from/to",
    )


_CURSOR = param(
    "cursor",
    "query",
    {"type": "string"},
    "next_cursor of the previous page (opaque; send the same range with it)",
)


def history_params(what: str) -> list[Schema]:
    """A history page's query: ``limit`` (counting ``what``), from/to, from_seq/to_seq, cursor."""
    return [
        limit(1000, 100, what),
        _instant("from", "Oldest ts included"),
        _instant("to", "ts to stop before"),
        _sequence("from_seq", "Oldest seq included"),
        _sequence("to_seq", "seq to stop before"),
        _CURSOR,
    ]


def either(live: str, history: str) -> Schema:
    """The live component or a page of its history (``history=true``)."""
    return {"anyOf": [ref(live), ref(history)]}


def limit(maximum: int, default: int | None, what: str) -> Schema:
    """The ``limit`` query parameter, 1 to ``maximum``; ``what`` says what it counts."""
    schema: Schema = {"type": "integer", "minimum": 1, "maximum": maximum}
    if default is not None:
        schema["default"] = default
    return param("limit", "query", schema, what)


def op(
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
    """One operation: ``ok`` names a component (or is a schema; ``None``: a string), and
    each status in ``errors`` answers an ``Error``."""
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
