"""Hostile auth: algorithm confusion and keys smuggled in the token header, tampered claims,
brute force from many addresses or against many accounts, timing-safe comparisons (checked
in the code, not by the clock), and no password or token in any log line or answer.

tests/edge/test_auth.py covers the basic forgeries (``alg: none``, HS512, another key, a
changed signature, expired, no ``exp``); these are the ones it does not."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import time
import warnings
from pathlib import Path
from typing import Any

import argon2
import pytest
import socketio.exceptions
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, RSAKey

from edge.auth.passwords import PasswordHasher
from edge.auth.ratelimit import SlidingWindowLimiter
from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.sio import recorder

SECRET = "z" * 48
PASSWORD = "Tr1cky-Horse-Battery"
ROOT = Path(__file__).resolve().parents[2]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def _rs256(header: dict[str, Any], claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64(signature)


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64int(n: int) -> str:
        return _b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))

    return {"kty": "RSA", "n": b64int(numbers.n), "e": b64int(numbers.e)}


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "deltastream", "sub": "alice", "iat": now, "exp": now + 600, "jti": "x"}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _forgeries() -> dict[str, str]:
    key = SECRET.encode()
    # 1024 bits keeps the header (with the key in it) under joserfc's 512-byte header cap,
    # so it is the algorithm and the key that must stop this token, not its size.
    attacker_rsa = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    attacker_oct = OctKey.generate_key(256)
    good = _hs256({"alg": "HS256", "typ": "JWT"}, _claims(), key)
    head, body, sig = good.split(".")
    return {
        # RS256 signed with the attacker's own RSA key, which the header carries
        "RS256 own key in jwk": _rs256(
            {"alg": "RS256", "jwk": _public_jwk(attacker_rsa)}, _claims(), attacker_rsa
        ),
        # the HS256/RS256 swap: an HMAC over the token, labelled RS256
        "HS256 signature labelled RS256": _hs256({"alg": "RS256"}, _claims(), key),
        # an HMAC key of the attacker's, announced in the header
        "HS256 own key in jwk": jwt.encode(
            {"alg": "HS256", "jwk": attacker_oct.as_dict(private=True)},
            _claims(),
            attacker_oct,
            algorithms=["HS256"],
        ),
        "jku to a key set elsewhere": _hs256(
            {"alg": "HS256", "jku": "http://evil.example/jwks.json"}, _claims(), b"e" * 48
        ),
        "kid path traversal": _hs256({"alg": "HS256", "kid": "../../dev/null"}, _claims(), b""),
        "alg None": _b64(b'{"alg":"None"}') + "." + body + ".",
        "alg NONE": _b64(b'{"alg":"NONE"}') + "." + body + ".",
        "no alg": _hs256({"typ": "JWT"}, _claims(), key),
        "HS256 with an empty key": _hs256({"alg": "HS256"}, _claims(), b""),
        "other issuer": _hs256({"alg": "HS256"}, _claims(iss="someone-else"), key),
        "no issuer": _hs256({"alg": "HS256"}, _claims(iss=None), key),
        "no subject": _hs256({"alg": "HS256"}, _claims(sub=None), key),
        "subject not a string": _hs256({"alg": "HS256"}, _claims(sub=7), key),
        "exp a string": _hs256({"alg": "HS256"}, _claims(exp="9999999999"), key),
        "not before in the future": _hs256(
            {"alg": "HS256"}, _claims(nbf=int(time.time()) + 3600), key
        ),
        "claims not an object": _hs256({"alg": "HS256"}, ["alice"], key),  # type: ignore[arg-type]
        "payload swapped in": f"{head}.{_b64(json.dumps(_claims(sub='root')).encode())}.{sig}",
        "signature cut short": f"{head}.{body}.{sig[:20]}",
        "four segments": f"{good}.{sig}",
        "JWE shape": f"{head}.{body}.{sig}.{sig}.{sig}",
        "not base64": f"{head}.{body}.%%%{sig}",
        "unicode": f"{head}.{body}.ŝïğ",
        "empty": "",
        "dots": "..",
    }


def _check_refused(r: Any, name: str, token: str) -> None:
    assert r.status_code == 401, (name, r.status_code, r.text)
    body = r.json()
    assert body["error"] in ("invalid_token", "unauthorized"), (name, body)
    assert body["detail"] and "Traceback" not in r.text, name
    if len(token) > 12:
        assert token not in r.text, name  # never echoed


async def test_confused_algorithms_smuggled_keys_and_bad_claims_are_refused(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(jwt_secret=SECRET)
    async with edge.client() as c:
        r = await c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 201
        valid = _hs256({"alg": "HS256", "typ": "JWT"}, _claims(), SECRET.encode())
        assert (
            await c.get("/api/auth/me", headers={"Authorization": f"Bearer {valid}"})
        ).is_success
        for name, token in _forgeries().items():
            if token.isascii() and token:  # headers are ASCII; the body carries the rest
                header = {"Authorization": f"Bearer {token}"}
                _check_refused(await c.get("/api/auth/me", headers=header), name, token)
                _check_refused(await c.post("/api/auth/refresh", headers=header), name, token)
            if token:
                checked = await c.post("/api/auth/verify", json={"token": token})
                _check_refused(checked, name, token)
    # The RS256 forgery is a good token by its own key: only the server's choice of
    # algorithm and key stops it.
    forged = _forgeries()["RS256 own key in jwk"]
    header = jws.extract_compact(forged.encode()).protected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)  # the 1024-bit key, on purpose
        own_key = RSAKey.import_key(header["jwk"])
        assert jwt.decode(forged, own_key, algorithms=["RS256"]).claims["sub"] == "alice"


async def test_brute_force_is_limited_per_account_across_addresses_and_per_address(
    edge_factory: EdgeFactory,
) -> None:
    limit = 4
    edge = await edge_factory(login_attempts_per_minute=limit)
    async with edge.client() as c:
        await c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
        await c.post("/api/auth/register", json={"username": "bob", "password": PASSWORD})

        async def login(user: str, password: str, address: str) -> Any:
            return await c.post(
                "/api/auth/login",
                json={"username": user, "password": password},
                headers={"X-Forwarded-For": address},  # the edge trusts its local proxy
            )

        # One account from many addresses: the account's own limit stops it.
        for i in range(limit):
            assert (await login("alice", f"Wrong-guess-{i}", f"10.0.0.{i}")).status_code == 401
        blocked = await login("alice", PASSWORD, "10.0.1.1")  # even the right password
        assert blocked.status_code == 429 and blocked.json()["error"] == "rate_limited"
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        # Many accounts (real or not) from one address: the address's limit stops it.
        for i in range(limit):
            r = await login(f"guess{i}", "Wrong-guess-1", "10.9.9.9")
            assert r.status_code == 401
        assert (await login("bob", PASSWORD, "10.9.9.9")).status_code == 429
        # Others are not locked out by either.
        assert (await login("bob", PASSWORD, "10.7.7.7")).status_code == 200


def test_the_limiter_keeps_a_bounded_number_of_keys() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=3, window_s=60.0, clock=lambda: now[0], max_keys=100)
    for i in range(10_000):
        limiter.hit(f"address:{i}")
    assert len(limiter._hits) == 100
    for _ in range(3):
        limiter.hit("account:alice")
    assert limiter.retry_after_s("account:alice") == 60
    now[0] = 61.0
    assert limiter.retry_after_s("account:alice") is None


async def test_an_unknown_user_costs_a_full_argon2_verification(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[str] = []
    original = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        verified.append(hash.decode() if isinstance(hash, bytes) else hash)
        return original(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    async with edge.client() as c:
        await c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
        known = await c.post(
            "/api/auth/login", json={"username": "alice", "password": "Nope-12345"}
        )
        unknown = await c.post(
            "/api/auth/login", json={"username": "nobody", "password": "Nope-12345"}
        )
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()
    # One argon2id verification each; the unknown user's against the decoy hash, which has
    # the same parameters as a real one.
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)
    real, decoy = verified
    assert real != decoy
    assert real.split("$")[:4] == decoy.split("$")[:4]  # algorithm, version, m/t/p


async def test_the_decoy_never_logs_anybody_in() -> None:
    hasher = PasswordHasher(argon2.PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    assert await hasher.verify(None, "decoy password never used") is False
    assert await hasher.verify(None, PASSWORD) is False


_SECRET_NAME = ("token", "password", "secret", "signature", "digest", "hash", "signing_key")


def _secret_comparisons(path: Path) -> list[str]:
    """``==``/``!=`` comparisons where a side is named like a secret (not ``is None``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        for side in (node.left, *node.comparators):
            text = ast.unparse(side).lower()
            if isinstance(side, ast.Name | ast.Attribute | ast.Subscript | ast.Call) and any(
                word in text for word in _SECRET_NAME
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_secret_is_compared_with_eq_anywhere_in_the_edge() -> None:
    """Secrets are compared only by hmac.compare_digest (joserfc's HS256 check) or argon2's
    verify; a plain == would leak, through its timing, how much of a guess was right."""
    found = [c for p in sorted((ROOT / "edge").rglob("*.py")) for c in _secret_comparisons(p)]
    assert found == []


async def test_no_password_or_token_reaches_a_log_line_or_an_answer(
    edge_factory: EdgeFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    edge = await edge_factory(auth_required=True, login_attempts_per_minute=3)
    await edge.feed(steps=2)
    wrong = "Wr0ng-but-Secret-7"
    bodies: list[str] = []
    async with edge.client() as c:
        reg = await c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD})
        token = reg.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        bad = {"Authorization": f"Bearer {token[:-3]}xyz"}
        calls = [
            c.post("/api/auth/register", json={"username": "alice", "password": PASSWORD}),
            c.post("/api/auth/register", json={"username": "carol", "password": "short"}),
            c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}),
            c.post("/api/auth/login", json={"username": "alice", "password": wrong}),
            c.post("/api/auth/login", json={"username": "ghost", "password": wrong}),
            c.post("/api/auth/verify", headers=auth),
            c.post("/api/auth/verify", json={"token": token}),
            c.post("/api/auth/verify", headers=bad),
            c.post("/api/auth/refresh", headers=auth),
            c.post("/api/auth/refresh", headers=bad),
            c.get("/api/auth/me", headers=bad),
            c.get("/api/data/products", headers=auth),
            c.get("/api/data/chain/NIFTY", headers=bad),
            c.post("/api/auth/login", json={"username": "alice", "password": wrong}),
            c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD}),  # 429
        ]
        for call in calls:
            r = await call
            assert r.status_code < 500, r.text
            bodies.append(r.text)
    async with recorder(edge.url, auth={"token": token}) as rec:
        assert (await rec.client.call("subscribe", "general", timeout=10))["ok"]
    with pytest.raises(socketio.exceptions.ConnectionError):
        async with recorder(edge.url, auth={"token": token[:-3] + "xyz"}):
            pass
    out, err = capfd.readouterr()
    logged = out + err
    for secret in (PASSWORD, wrong, token, token[:-3] + "xyz"):
        assert secret not in logged
        assert all(secret not in body for body in bodies)
    for event in ("user_registered", "login_succeeded", "login_failed", "login_rate_limited"):
        assert event in logged  # the log did record what happened
