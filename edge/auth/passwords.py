"""Password hashing (argon2id via argon2-cffi) and the weak-password policy.

Hashing costs tens of milliseconds and 64 MiB by design, so it runs in a worker thread:
the event loop keeps serving sockets while a login is checked.
"""

from __future__ import annotations

import asyncio

import argon2
import argon2.exceptions

from edge.errors import WeakPassword

__all__ = ["MAX_PASSWORD_CHARS", "MIN_PASSWORD_CHARS", "PasswordHasher", "check_strength"]

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 128
MIN_DISTINCT_CHARS = 5

# The most common passwords that satisfy the length rule; a real deployment may add a
# breached-password list, but these alone stop the first guesses of any attacker.
_COMMON = frozenset(
    {
        "1234567890",
        "12345678910",
        "0123456789",
        "qwertyuiop",
        "password12",
        "password123",
        "password1234",
        "passw0rd123",
        "iloveyou12",
        "qwerty1234",
        "1q2w3e4r5t",
        "letmein123",
        "welcome123",
        "admin12345",
        "abcdefghij",
        "deltastream",
        "changeme123",
    }
)


def check_strength(username: str, password: str) -> None:
    """Raise ``WeakPassword`` naming the rule a password breaks (length is checked by schema)."""
    lowered = password.lower()
    if lowered in _COMMON:
        raise WeakPassword("password is one of the most common passwords")
    if username.lower() in lowered:
        raise WeakPassword("password must not contain the username")
    if len(set(password)) < MIN_DISTINCT_CHARS:
        raise WeakPassword(f"password needs at least {MIN_DISTINCT_CHARS} distinct characters")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 2:
        raise WeakPassword("password needs two kinds of characters (lower, upper, digits, symbols)")


class PasswordHasher:
    def __init__(self, hasher: argon2.PasswordHasher | None = None) -> None:
        self._hasher = hasher or argon2.PasswordHasher()
        # Verifying against this when the user does not exist makes a login for an unknown
        # name take as long as one for a known name: no user enumeration by timing.
        self._decoy = self._hasher.hash("decoy password never used")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self._verify, stored_hash, password)

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            self._hasher.verify(stored_hash or self._decoy, password)
        except argon2.exceptions.VerificationError:
            return False
        except argon2.exceptions.InvalidHashError:
            return False
        return stored_hash is not None
