"""HS256 JSON Web Tokens with joserfc (the JOSE library Authlib 1.9 points to in place of the
deprecated ``authlib.jose``).

Only HS256 is accepted: ``alg: none``, other algorithms, a bad signature, a malformed token,
a missing claim or an expired token are all ``InvalidToken``. Tokens are never logged.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from edge.errors import InvalidToken, Unauthorized

__all__ = ["ALGORITHM", "ISSUER", "MIN_KEY_BYTES", "TokenClaims", "TokenIssuer", "bearer_token"]

ALGORITHM = "HS256"
ISSUER = "deltastream"
MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 4096


@dataclass(frozen=True, slots=True)
class TokenClaims:
    username: str
    issued_at_s: int
    expires_at_s: int
    token_id: str


class TokenIssuer:
    def __init__(self, key: bytes, *, ttl_s: int, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the JWT signing key needs at least {MIN_KEY_BYTES} bytes")
        self._key = OctKey.import_key(key)
        self.ttl_s = ttl_s
        self._clock = clock
        self._registry = JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=0,
            iss={"essential": True, "value": ISSUER},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )

    def issue(self, username: str) -> tuple[str, TokenClaims]:
        now = int(self._clock())
        claims = TokenClaims(username, now, now + self.ttl_s, secrets.token_urlsafe(12))
        token = jwt.encode(
            {"alg": ALGORITHM, "typ": "JWT"},
            {
                "iss": ISSUER,
                "sub": username,
                "iat": claims.issued_at_s,
                "exp": claims.expires_at_s,
                "jti": claims.token_id,
            },
            self._key,
            algorithms=[ALGORITHM],
        )
        return token, claims

    def verify(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("token is too long")
        try:
            decoded = jwt.decode(token, self._key, algorithms=[ALGORITHM])
            self._registry.validate(decoded.claims)
        except JoseError as exc:
            raise InvalidToken(f"token rejected: {exc.error}") from exc
        except (ValueError, TypeError) as exc:
            raise InvalidToken("token is malformed") from exc
        c = decoded.claims
        if not isinstance(c.get("sub"), str) or not isinstance(c.get("exp"), int):
            raise InvalidToken("token claims have the wrong types")
        return TokenClaims(c["sub"], int(c.get("iat", 0)), c["exp"], str(c.get("jti", "")))


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ``Unauthorized``."""
    if not authorization:
        raise Unauthorized("missing Authorization: Bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()
