"""``/api/auth``: register, login, verify, refresh, me.

Passwords and tokens are never logged. Login is rate limited per account and per client
address (``login_attempts_per_minute``), across every edge when Redis is configured; every
attempt counts, successful or not.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import structlog
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.auth.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, check_strength
from edge.auth.tokens import TokenClaims, bearer_token
from edge.errors import BadCredentials, InvalidToken, RateLimited
from edge.routes.params import json_body, json_response
from edge.state import EdgeState, edge_state

__all__ = [
    "Credentials",
    "TokenBody",
    "login",
    "me",
    "refresh",
    "register",
    "routes",
    "verify",
]

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 4096
# "\Z", not "$": Python's "$" also matches before a trailing newline. No dots: the name
# becomes a KV key (user.<name>), where a leading, trailing or doubled dot is invalid.
USERNAME_PATTERN = r"^[A-Za-z0-9_-]+\Z"
Username = Annotated[str, Meta(min_length=3, max_length=32, pattern=USERNAME_PATTERN)]
Password = Annotated[str, Meta(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]


class Credentials(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    username: Username
    password: Password


class TokenBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


async def _body(request: Request, kind: type[Any]) -> Any:
    return await json_body(request, kind, max_bytes=MAX_BODY_BYTES)


def _token_reply(st: EdgeState, username: str, created_ns: int) -> dict[str, Any]:
    token, claims = st.tokens.issue(username)
    return {
        "token": token,
        "token_type": "Bearer",
        "expires_at": claims.expires_at_s,
        "user": {"username": username, "created_ns": created_ns},
    }


async def _current(request: Request) -> tuple[EdgeState, TokenClaims]:
    st = edge_state(request)
    claims = st.tokens.verify(bearer_token(request.headers.get("authorization")))
    return st, claims


async def register(request: Request) -> Response:
    st = edge_state(request)
    creds: Credentials = await _body(request, Credentials)
    username = creds.username.lower()
    check_strength(username, creds.password)
    record = await st.users.create(username, await st.passwords.hash(creds.password))
    log.info("user_registered", username=username)
    return json_response(_token_reply(st, username, record.created_ns), status_code=201)


async def login(request: Request) -> Response:
    st = edge_state(request)
    creds: Credentials = await _body(request, Credentials)
    username = creds.username.lower()
    address = request.client.host if request.client else "unknown"
    wait_s = await st.login_limiter.acquire((f"account:{username}", f"address:{address}"))
    if wait_s is not None:
        log.info("login_rate_limited", username=username, address=address)
        raise RateLimited("too many login attempts; try again later", retry_after_s=wait_s)
    record = await st.users.get(username)
    ok = await st.passwords.verify(record.password_hash if record else None, creds.password)
    if not ok or record is None:
        log.info("login_failed", username=username, address=address)
        raise BadCredentials("unknown user or wrong password")
    log.info("login_succeeded", username=username)
    return json_response(_token_reply(st, username, record.created_ns))


async def verify(request: Request) -> Response:
    st = edge_state(request)
    if request.headers.get("authorization"):
        token = bearer_token(request.headers.get("authorization"))
    else:
        token = (await _body(request, TokenBody)).token
    claims = st.tokens.verify(token)
    return json_response(
        {"valid": True, "username": claims.username, "expires_at": claims.expires_at_s}
    )


async def refresh(request: Request) -> Response:
    st, claims = await _current(request)
    record = await st.users.get(claims.username)
    if record is None:
        raise InvalidToken("the token's user no longer exists")
    return json_response(_token_reply(st, record.username, record.created_ns))


async def me(request: Request) -> Response:
    st, claims = await _current(request)
    record = await st.users.get(claims.username)
    if record is None:
        raise InvalidToken("the token's user no longer exists")
    return json_response({**record.public(), "expires_at": claims.expires_at_s})


routes = [
    Route("/api/auth/register", register, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/verify", verify, methods=["POST"]),
    Route("/api/auth/refresh", refresh, methods=["POST"]),
    Route("/api/auth/me", me, methods=["GET"]),
]
