"""The errors the edge answers with, and the one handler that turns them into JSON.

::

    DeltastreamError                      (actors.errors)
    └── EdgeError                 500 internal
        ├── BadRequest            400 bad_request
        │   ├── BadRange          400 bad_range            (history from/to/seq/limit)
        │   ├── BadCursor         400 bad_cursor           (history cursor)
        │   ├── InvalidSymbol     400 invalid_symbol
        │   ├── InvalidPayload    400 invalid_payload      (Socket.IO event data)
        │   └── WeakPassword      400 weak_password
        ├── Unauthorized          401 unauthorized
        │   ├── InvalidToken      401 invalid_token
        │   └── BadCredentials    401 invalid_credentials
        ├── NotFound              404 not_found
        │   ├── UnknownProduct    404 unknown_product
        │   └── UnknownExpiry     404 unknown_expiry
        ├── Conflict              409 conflict
        ├── PayloadTooLarge       413 payload_too_large
        ├── InvalidParameter      422 invalid_parameter    (msgspec ValidationError, with its path)
        ├── RateLimited           429 rate_limited         (+ Retry-After)
        └── UpstreamError         502 upstream_error       (the actor service failed)
            ├── Unavailable       503 unavailable          (no responder, chain down, NATS gone)
            └── UpstreamTimeout   504 upstream_timeout

Every error reaches the client as ``{"error": code, "detail": text}`` with the status above.
Unknown routes and methods (Starlette's ``HTTPException``) get the same shape; anything else
is a bug: logged with its traceback and answered 500 without echoing the exception.
"""

from __future__ import annotations

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from actors.errors import DeltastreamError

__all__ = [
    "BadCredentials",
    "BadCursor",
    "BadRange",
    "BadRequest",
    "Conflict",
    "EdgeError",
    "InvalidParameter",
    "InvalidPayload",
    "InvalidSymbol",
    "InvalidToken",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "UnknownExpiry",
    "UnknownProduct",
    "UpstreamError",
    "UpstreamTimeout",
    "WeakPassword",
    "error_body",
    "handle_error",
]

log = structlog.get_logger(__name__)

MAX_DETAIL_CHARS = 500


class EdgeError(DeltastreamError):
    status = 500
    code = "internal"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail[:MAX_DETAIL_CHARS]


class BadRequest(EdgeError):
    status = 400
    code = "bad_request"


class BadRange(BadRequest):
    code = "bad_range"


class BadCursor(BadRequest):
    code = "bad_cursor"


class InvalidSymbol(BadRequest):
    code = "invalid_symbol"


class InvalidPayload(BadRequest):
    code = "invalid_payload"


class WeakPassword(BadRequest):
    code = "weak_password"


class Unauthorized(EdgeError):
    status = 401
    code = "unauthorized"


class InvalidToken(Unauthorized):
    code = "invalid_token"


class BadCredentials(Unauthorized):
    code = "invalid_credentials"


class NotFound(EdgeError):
    status = 404
    code = "not_found"


class UnknownProduct(NotFound):
    code = "unknown_product"


class UnknownExpiry(NotFound):
    code = "unknown_expiry"


class Conflict(EdgeError):
    status = 409
    code = "conflict"


class PayloadTooLarge(EdgeError):
    status = 413
    code = "payload_too_large"


class InvalidParameter(EdgeError):
    status = 422
    code = "invalid_parameter"


class RateLimited(EdgeError):
    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = max(1, retry_after_s)


class UpstreamError(EdgeError):
    status = 502
    code = "upstream_error"


class Unavailable(UpstreamError):
    status = 503
    code = "unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


_encoder = msgspec.json.Encoder()


def error_body(code: str, detail: str) -> dict[str, str]:
    return {"error": code, "detail": detail}


def _json(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        _encoder.encode(error_body(code, detail)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}


async def handle_error(request: Request, exc: Exception) -> Response:
    """The single exception handler, registered for every exception class the app meets."""
    if isinstance(exc, RateLimited):
        return _json(exc.status, exc.code, exc.detail, {"Retry-After": str(exc.retry_after_s)})
    if isinstance(exc, EdgeError):
        return _json(exc.status, exc.code, exc.detail)
    if isinstance(exc, msgspec.ValidationError):
        return _json(422, InvalidParameter.code, str(exc)[:MAX_DETAIL_CHARS])
    if isinstance(exc, HTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return _json(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))
    log.exception("request_failed", path=request.url.path, error=type(exc).__name__)
    return _json(500, EdgeError.code, "internal error")
