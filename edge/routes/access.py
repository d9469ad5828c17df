"""Who may call the data and analytics routes: the bearer token when auth is required, and
the API rate limit (``DELTASTREAM_API_REQUESTS_PER_MINUTE`` per user, else per address)."""

from __future__ import annotations

from starlette.requests import Request

from edge.auth.tokens import TokenClaims
from edge.errors import RateLimited
from edge.state import edge_state, require_auth

__all__ = ["admit"]


async def admit(request: Request) -> TokenClaims | None:
    """The caller's claims (None when auth is off). Raises ``Unauthorized``, ``RateLimited``."""
    claims = require_auth(request)
    limiter = edge_state(request).api_limiter
    if limiter is not None:
        if claims is not None:
            who = f"user:{claims.username}"
        else:
            who = f"address:{request.client.host if request.client else 'unknown'}"
        wait_s = await limiter.acquire((who,))
        if wait_s is not None:
            raise RateLimited("too many requests; try again later", retry_after_s=wait_s)
    return claims
