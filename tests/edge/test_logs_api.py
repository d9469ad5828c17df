"""POST /api/logs and GET /api/logs/{service}: validated, size- and rate-limited, stored in
LOGS, read back newest first; and no password or token ever reaches a log line."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from typing import Any

import nats
import pytest

from actors import subjects
from actors.log_setup import configure_logging, reset_logging
from actors.log_shipper import LogShipper
from actors.natsserver import NatsServer
from actors.settings import Settings
from tests.conftest import WAIT_S
from tests.edge.conftest import Edge, EdgeFactory

PASSWORD = "Tr1cky-Horse-Battery"
WRONG_PASSWORD = "Wr0ng-Horse-Battery"


def _entry(**overrides: Any) -> dict[str, Any]:
    return {"service": "billing", "level": "warning", "message": "invoice_late", **overrides}


async def test_posted_events_are_read_back_newest_first_at_or_above_a_level(edge: Edge) -> None:
    async with edge.client() as c:
        one = await c.post("/api/logs", json=_entry(fields={"invoice": 17, "ok": False}))
        many = await c.post(
            "/api/logs",
            json=[
                _entry(level="debug", message="a"),
                _entry(level="error", message="b", ts_ns=5),
                _entry(level="info", message="c"),
            ],
        )
        other = await c.post("/api/logs", json=_entry(service="shipping", message="elsewhere"))
        every = (await c.get("/api/logs/billing")).json()
        warnings = (await c.get("/api/logs/billing", params={"level": "warning"})).json()
        last = (await c.get("/api/logs/billing", params={"limit": 1})).json()
        nothing = (await c.get("/api/logs/nobody")).json()
    assert (one.status_code, one.json()) == (202, {"accepted": 1})
    assert (many.status_code, many.json()) == (202, {"accepted": 3})
    assert other.status_code == 202
    assert [e["event"] for e in every["events"]] == ["c", "b", "a", "invoice_late"]
    assert [e["event"] for e in warnings["events"]] == ["b", "invoice_late"]
    assert warnings["level"] == "warning" and warnings["service"] == "billing"
    assert [e["event"] for e in last["events"]] == ["c"]
    assert nothing == {"service": "nobody", "level": "debug", "events": []}
    first = every["events"][-1]
    assert first["invoice"] == 17 and first["ok"] is False
    assert first["origin"] == "api" and first["client"] == "127.0.0.1"
    assert first["level"] == "warning" and first["timestamp"].endswith("Z")
    assert every["events"][1]["client_ts_ns"] == 5


async def test_posted_events_land_on_the_service_subject_of_the_logs_stream(edge: Edge) -> None:
    async with edge.client() as c:
        assert (await c.post("/api/logs", json=_entry())).status_code == 202
    nc = await nats.connect(edge.nats_url)
    try:
        msg = await nc.jetstream().get_last_msg(subjects.LOGS_STREAM, "deltastream.logs.billing")
    finally:
        await nc.close()
    assert json.loads(msg.data)["event"] == "invoice_late"


async def test_posted_secrets_are_redacted_before_they_are_stored(edge: Edge) -> None:
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXZhbHVl"
    async with edge.client() as c:
        r = await c.post(
            "/api/logs",
            json=_entry(
                message=f"retrying with Bearer {token}",
                fields={"password": "hunter2-hunter2", "api_key": "k-123456", "user_id": 7},
            ),
        )
        stored = (await c.get("/api/logs/billing")).json()["events"][0]
    assert r.status_code == 202
    text = json.dumps(stored)
    assert "hunter2" not in text and token not in text and "k-123456" not in text
    assert stored["user_id"] == 7


BAD_POSTS: list[tuple[Any, str]] = [
    (_entry(service="Billing"), "body.service"),
    (_entry(service="bill.ing"), "body.service"),
    (_entry(service="b" * 33), "body.service"),
    (_entry(level="fatal"), "body.level"),
    (_entry(message=""), "body.message"),
    (_entry(message="x" * 4097), "body.message"),
    (_entry(fields={f"k{i}": i for i in range(33)}), "body.fields"),
    (_entry(fields={"bad-name": 1}), "body.fields"),
    (_entry(fields={"level": "error"}), "body.fields.level"),
    (_entry(fields={"nested": {"a": 1}}), "body.fields"),
    (_entry(fields={"long": "y" * 1025}), "body.fields"),
    (_entry(ts_ns=-1), "body.ts_ns"),
    (_entry(extra=1), "extra"),
    ({"level": "info", "message": "m"}, "service"),
    ([], "body"),
    ([_entry()] * 101, "body"),
    ("just a string", "body"),
]


async def test_bad_posts_are_422_json_naming_the_problem_and_store_nothing(edge: Edge) -> None:
    async with edge.client() as c:
        for body, names in BAD_POSTS:
            r = await c.post("/api/logs", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"] == "invalid_parameter", body
            assert names in r.json()["detail"], (body, r.text)
        stored = (await c.get("/api/logs/billing")).json()["events"]
    assert stored == []


async def test_a_body_above_the_limit_or_not_json_is_refused(edge: Edge) -> None:
    big = [_entry(message="m" * 4000)] * 20  # 20 valid events, ~80 KiB
    async with edge.client() as c:
        too_big = await c.post("/api/logs", json=big)
        garbage = await c.post("/api/logs", content=b"{not json")
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    assert garbage.status_code == 422 and "not valid JSON" in garbage.json()["detail"]


BAD_READS = [
    ("/api/logs/Billing", "path.service"),
    ("/api/logs/billing?level=loud", "query.level"),
    ("/api/logs/billing?limit=0", "query.limit"),
    ("/api/logs/billing?limit=1001", "query.limit"),
    ("/api/logs/billing?limit=ten", "query.limit"),
    ("/api/logs/billing?limit=1&limit=2", "query.limit"),
]


async def test_bad_reads_are_422_naming_the_parameter(edge: Edge) -> None:
    async with edge.client() as c:
        for path, names in BAD_READS:
            r = await c.get(path)
            assert r.status_code == 422 and names in r.json()["detail"], (path, r.text)


async def test_posts_are_rate_limited_per_client_address(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(log_posts_per_minute=3)
    async with edge.client() as c:
        codes = [(await c.post("/api/logs", json=_entry())).status_code for _ in range(4)]
        limited = await c.post("/api/logs", json=_entry())
        other = await c.post(
            "/api/logs", json=_entry(), headers={"X-Forwarded-For": "198.51.100.7"}
        )
    assert codes == [202, 202, 202, 429]
    assert limited.json()["error"] == "rate_limited" and int(limited.headers["retry-after"]) >= 1
    # Forwarded headers count only from a trusted proxy (127.0.0.1 is one by default).
    assert other.status_code == 202


async def test_with_auth_required_both_routes_need_a_token(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(auth_required=True, jwt_secret="k" * 40)
    async with edge.client() as c:
        refused = await c.post("/api/logs", json=_entry())
        refused_read = await c.get("/api/logs/billing")
        reg = await c.post("/api/auth/register", json={"username": "carol", "password": PASSWORD})
        auth = {"Authorization": f"Bearer {reg.json()['token']}"}
        ok = await c.post("/api/logs", json=_entry(), headers=auth)
        read = await c.get("/api/logs/billing", headers=auth)
    assert refused.status_code == 401 and refused_read.status_code == 401
    assert ok.status_code == 202
    assert read.json()["events"][0]["user"] == "carol"


# ------------------------------------------------------------ no secrets in any log line


@pytest.fixture
def captured_logs() -> Iterator[tuple[io.StringIO, LogShipper]]:
    stream = io.StringIO()
    shipper = LogShipper(capacity=10_000)
    configure_logging(
        level="debug", service="edge", shipper=shipper, stream=stream, cache_loggers=False
    )
    try:
        yield stream, shipper
    finally:
        reset_logging()


async def test_no_password_or_token_reaches_a_log_line_or_the_logs_stream(
    edge_factory: EdgeFactory, captured_logs: tuple[io.StringIO, LogShipper]
) -> None:
    stream, shipper = captured_logs
    edge = await edge_factory(log_level="debug")
    await shipper.start(Settings(nats_url=edge.nats_url))
    try:
        secrets: list[str] = [PASSWORD, WRONG_PASSWORD]
        async with edge.client() as c:
            creds = {"username": "dave", "password": PASSWORD}
            reg = await c.post("/api/auth/register", json=creds)
            again = await c.post("/api/auth/register", json=creds)  # 409
            bad = await c.post("/api/auth/login", json={**creds, "password": WRONG_PASSWORD})
            login = await c.post("/api/auth/login", json=creds)
            token = login.json()["token"]
            secrets += [reg.json()["token"], token]
            auth = {"Authorization": f"Bearer {token}"}
            await c.post("/api/auth/verify", headers=auth)
            await c.post("/api/auth/verify", json={"token": token})
            await c.post("/api/auth/verify", json={"token": token + "x"})  # 401
            fresh = await c.post("/api/auth/refresh", headers=auth)
            secrets.append(fresh.json()["token"])
            await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            weak = await c.post("/api/auth/register", json={"username": "eve", "password": "a"})
            await c.post("/api/logs", json=_entry(fields={"password": PASSWORD, "jwt": token}))
        assert (again.status_code, bad.status_code, weak.status_code) == (409, 401, 422)
        await asyncio.wait_for(shipper.stream_ready.wait(), WAIT_S)
        await shipper.close()
        stored = await _all_logs(edge.nats_url)
    finally:
        await shipper.close()
    written = stream.getvalue()
    events = [json.loads(line) for line in written.splitlines()]
    names = {e["event"] for e in events}
    assert {"user_registered", "login_failed", "login_succeeded"} <= names  # it did log
    assert len(stored) >= len(events)  # and shipped all of it (plus the posted event)
    for secret in secrets:
        assert secret not in written
        assert all(secret not in raw for raw in stored)


async def _all_logs(url: str) -> list[str]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(subjects.LOGS_STREAM)
        sub = await js.subscribe(subjects.LOGS_WILDCARD, ordered_consumer=True)
        out = []
        for _ in range(info.state.messages):
            out.append((await sub.next_msg(timeout=WAIT_S)).data.decode())
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


async def test_the_edge_serves_even_when_jetstream_refuses_the_logs_stream(
    edge_factory: EdgeFactory, nats_server: NatsServer
) -> None:
    nc = await nats.connect(nats_server.url)
    try:  # another stream already owns the subjects, so LOGS cannot be created
        await nc.jetstream().add_stream(name="SQUATTER", subjects=["deltastream.logs.*"])
    finally:
        await nc.close()
    edge = await edge_factory()
    async with edge.client() as c:
        health = await c.get("/health/live")
        read = await c.get("/api/logs/billing")
    assert health.status_code == 200
    assert read.status_code == 503 and read.json()["error"] == "unavailable"
    assert "LOGS stream does not exist" in read.json()["detail"]
