"""Accounts, JWTs, login rate limits and auth-required REST and Socket.IO."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import socketio.exceptions
from joserfc import jwt
from joserfc.jwk import OctKey

from tests.edge.conftest import Edge, EdgeFactory
from tests.edge.sio import recorder

SECRET = "s" * 40
PASSWORD = "Tr1cky-Horse-Battery"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(header: dict[str, object], claims: dict[str, object], key: bytes, digest: str) -> str:
    signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    if digest == "none":
        return signing_input + "."
    sig = hmac.new(key, signing_input.encode(), getattr(hashlib, digest)).digest()
    return signing_input + "." + _b64(sig)


async def _register(edge: Edge, username: str = "alice", password: str = PASSWORD) -> dict:  # type: ignore[type-arg]
    async with edge.client() as c:
        r = await c.post("/api/auth/register", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_register_login_me_refresh_verify(edge: Edge) -> None:
    reg = await _register(edge)
    assert reg["user"]["username"] == "alice" and reg["token_type"] == "Bearer"
    async with edge.client() as c:
        login = await c.post("/api/auth/login", json={"username": "Alice", "password": PASSWORD})
        assert login.status_code == 200
        token = login.json()["token"]
        me = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["username"] == "alice"
        fresh = await c.post("/api/auth/refresh", headers={"Authorization": f"Bearer {token}"})
        assert fresh.status_code == 200 and fresh.json()["token"] != token
        by_body = await c.post("/api/auth/verify", json={"token": fresh.json()["token"]})
        by_header = await c.post("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert by_body.json()["valid"] is True and by_header.json()["username"] == "alice"


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({"username": "bob", "password": "Password123"}, 400, "common"),
        ({"username": "bob", "password": "aaaaaaaaaaaaaa"}, 400, "distinct"),
        ({"username": "bob", "password": "abcdefghijk"}, 400, "two kinds"),
        ({"username": "bob", "password": "xXbobXx-99"}, 400, "username"),
        ({"username": "bob", "password": "Short1!"}, 422, "password"),
        ({"username": "bob", "password": "L0ng!" * 30}, 422, "password"),
        ({"username": "b", "password": PASSWORD}, 422, "username"),
        ({"username": "bob\n", "password": PASSWORD}, 422, "username"),
        ({"username": "bob smith", "password": PASSWORD}, 422, "username"),
        ({"username": "bob.", "password": PASSWORD}, 422, "username"),
        ({"username": "bob", "password": PASSWORD, "admin": True}, 422, "admin"),
        ({"username": "bob"}, 422, "password"),
        ([1, 2], 422, "object"),
    ],
)
async def test_registration_rejects_bad_usernames_and_weak_passwords(
    edge: Edge, body: object, status: int, detail: str
) -> None:
    async with edge.client() as c:
        r = await c.post("/api/auth/register", json=body)
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]


async def test_duplicate_user_is_409_and_bodies_are_checked(edge: Edge) -> None:
    await _register(edge)
    async with edge.client() as c:
        again = await c.post("/api/auth/register", json={"username": "ALICE", "password": PASSWORD})
        not_json = await c.post("/api/auth/register", content=b"{nope")
        huge = await c.post("/api/auth/register", content=b"x" * 10_000)
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["detail"]
    assert huge.status_code == 413


async def test_wrong_password_and_unknown_user_are_both_401(edge: Edge) -> None:
    await _register(edge)
    async with edge.client() as c:
        wrong = await c.post(
            "/api/auth/login", json={"username": "alice", "password": PASSWORD + "x"}
        )
        nobody = await c.post("/api/auth/login", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == nobody.status_code == 401
    assert wrong.json() == nobody.json() == {
        "error": "invalid_credentials", "detail": "unknown user or wrong password"
    }  # fmt: skip


async def test_login_is_rate_limited_per_account_and_per_address(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(login_attempts_per_minute=3)
    await _register(edge)
    async with edge.client() as c:
        for _ in range(3):
            r = await c.post(
                "/api/auth/login", json={"username": "alice", "password": "Wr0ng-pass!"}
            )
            assert r.status_code == 401
        limited = await c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        # Another account from the same address is limited too (3 attempts from it already).
        other = await c.post("/api/auth/login", json={"username": "carol", "password": PASSWORD})
    assert limited.status_code == 429 and other.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"] == "rate_limited"


async def test_forged_tampered_and_expired_tokens_are_rejected(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory(jwt_secret=SECRET)
    await _register(edge)
    now = int(time.time())
    good = {"iss": "deltastream", "sub": "alice", "iat": now, "exp": now + 600}
    key = SECRET.encode()
    valid = _forge({"alg": "HS256", "typ": "JWT"}, good, key, "sha256")
    forged = {
        "alg none": _forge({"alg": "none", "typ": "JWT"}, good, key, "none"),
        "HS512": _forge({"alg": "HS512", "typ": "JWT"}, good, key, "sha512"),
        "other key": _forge({"alg": "HS256"}, good, b"k" * 40, "sha256"),
        "tampered": valid[:-4] + ("AAAA" if not valid.endswith("AAAA") else "BBBB"),
        "expired": _forge({"alg": "HS256"}, {**good, "exp": now - 5}, key, "sha256"),
        "no exp": _forge({"alg": "HS256"}, {k: v for k, v in good.items() if k != "exp"},
                         key, "sha256"),
        "garbage": "not.a.token",
        "huge": "a" * 5000,
    }  # fmt: skip
    async with edge.client() as c:
        ok = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {valid}"})
        assert ok.status_code == 200
        for name, token in forged.items():
            r = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 401, name
            assert r.json()["error"] == "invalid_token", name
        for header in ("", "Basic abc", "Bearer"):
            r = await c.get("/api/auth/me", headers={"Authorization": header})
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    # joserfc agrees with the forged HS256 token: the edge really signs HS256 with the secret.
    assert jwt.decode(valid, OctKey.import_key(key), algorithms=["HS256"]).claims["sub"] == "alice"


async def test_edges_share_one_generated_signing_key(edge_factory: EdgeFactory) -> None:
    first, second = await edge_factory(), await edge_factory()
    token = (await _register(first))["token"]
    async with second.client() as c:
        r = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["username"] == "alice"


async def test_auth_required_guards_rest_and_sockets(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(auth_required=True)
    token = (await _register(edge))["token"]
    async with edge.client() as c:
        anonymous = await c.get("/api/data/products")
        signed = await c.get("/api/data/products", headers={"Authorization": f"Bearer {token}"})
        health = await c.get("/health")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "unauthorized"
    assert signed.status_code == 200 and health.status_code == 200
    for auth in (None, {"token": "bad"}, {"nothing": 1}):
        with pytest.raises(socketio.exceptions.ConnectionError):
            async with recorder(edge.url, auth=auth):
                pass
    async with recorder(edge.url, auth={"token": token}) as rec:
        ack = await rec.client.call("subscribe", "general", timeout=10)
        assert ack["ok"] is True


async def test_passwords_and_tokens_never_reach_the_log(
    edge: Edge, capfd: pytest.CaptureFixture[str]
) -> None:
    token = (await _register(edge))["token"]
    async with edge.client() as c:
        await c.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
        await c.post("/api/auth/login", json={"username": "alice", "password": "Wr0ng-pass!"})
        await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}x"})
    out, err = capfd.readouterr()
    for secret in (PASSWORD, "Wr0ng-pass!", token):
        assert secret not in out and secret not in err
    assert "login_failed" in out + err  # the log did record the event
