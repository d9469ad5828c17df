"""Accounts and tokens: argon2 password hashes, HS256 JWTs, users in a NATS KV bucket,
login and API rate limits (local, or shared through Redis)."""

from __future__ import annotations

from edge.auth.passwords import PasswordHasher, check_strength
from edge.auth.ratelimit import SlidingWindowLimiter
from edge.auth.shared_limit import SharedLimiter
from edge.auth.tokens import TokenClaims, TokenIssuer, bearer_token
from edge.auth.users import UserRecord, UserStore

__all__ = [
    "PasswordHasher",
    "SharedLimiter",
    "SlidingWindowLimiter",
    "TokenClaims",
    "TokenIssuer",
    "UserRecord",
    "UserStore",
    "bearer_token",
    "check_strength",
]
