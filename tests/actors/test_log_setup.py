"""Every log line is one JSON object with the core fields, from structlog and from the
standard library alike; subjects add product/expiry; secrets never reach a line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from actors.log_events import MAX_EVENT_BYTES, encode_event, level_rank
from actors.log_setup import configure_logging, reset_logging
from actors.log_shipper import LogShipper
from actors.redaction import REDACTED, is_secret_key

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


class Captured:
    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.shipper = LogShipper(capacity=1000)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]

    def shipped(self) -> list[tuple[str, dict[str, Any]]]:
        return [(subject, json.loads(raw)) for subject, raw in self.shipper._buffer]


@pytest.fixture
def captured() -> Iterator[Captured]:
    cap = Captured()
    configure_logging(service="actors", shipper=cap.shipper, stream=cap.stream, cache_loggers=False)
    try:
        yield cap
    finally:
        reset_logging()


def test_structlog_and_stdlib_lines_are_json_with_the_core_fields(captured: Captured) -> None:
    structlog.get_logger("actors.supervisor").info("chain_started", chains=3)
    logging.getLogger("uvicorn.error").error("worker %s died", 7)
    first, second = captured.lines()
    for line in (first, second):
        assert {"timestamp", "level", "service", "event", "host", "pid", "logger"} <= set(line)
        assert line["service"] == "actors" and line["timestamp"].endswith("Z")
    assert first["event"] == "chain_started" and first["chains"] == 3
    assert first["logger"] == "actors.supervisor" and first["level"] == "info"
    assert second["event"] == "worker 7 died" and second["logger"] == "uvicorn.error"
    assert second["level"] == "error"


def test_the_shipped_events_equal_the_written_lines(captured: Captured) -> None:
    structlog.get_logger("actors.ingress").warning("feed_rejected", reason="crossed_quote")
    (line,) = captured.lines()
    ((subject, shipped),) = captured.shipped()
    assert subject == "deltastream.logs.actors" and shipped == line


def test_below_the_level_nothing_is_written_or_shipped() -> None:
    cap = Captured()
    configure_logging(
        level="warning", service="edge", shipper=cap.shipper, stream=cap.stream, cache_loggers=False
    )
    try:
        structlog.get_logger("edge.app").info("edge_started")
        logging.getLogger("uvicorn").info("chatter")
        structlog.get_logger("edge.app").warning("nats_disconnected")
    finally:
        reset_logging()
    assert [line["event"] for line in cap.lines()] == ["nats_disconnected"]
    assert cap.shipper.buffered == 1


def test_a_feed_subject_adds_its_product_and_expiry(captured: Captured) -> None:
    log = structlog.get_logger("actors.ingress")
    log.warning("feed_rejected", subject="deltastream.feed.quotes.NIFTY.2026-12-29")
    log.warning("feed_rejected", subject="deltastream.dlq.feed.underlying.BANKNIFTY")
    log.warning("analytics_message_invalid", subject="deltastream.analytics.ohlc.NIFTY.1m")
    log.info("chain_down", subject="deltastream.feed.chain.NIFTY.2026-12-29", product="X")
    a, b, c, d = captured.lines()
    assert (a["product"], a["expiry"]) == ("NIFTY", "2026-12-29")
    assert b["product"] == "BANKNIFTY" and "expiry" not in b
    assert c["product"] == "NIFTY" and "expiry" not in c  # "1m" is an interval
    assert d["product"] == "X"  # a fact the event states wins


def test_secrets_are_redacted_by_key_and_inside_text(captured: Captured) -> None:
    structlog.get_logger("edge.routes.auth").info(
        "odd_event",
        password="hunter2-hunter2",
        token=JWT,
        headers={"Authorization": "Bearer abc.def", "accept": "json"},
        detail=f"sent {JWT} with Authorization: Bearer s3cr3t-value",
        nats="nats://alice:pa55word@nats:4222",
    )
    (line,) = captured.lines()
    text = captured.stream.getvalue()
    for secret in ("hunter2-hunter2", JWT, "abc.def", "s3cr3t-value", "pa55word"):
        assert secret not in text
    assert line["password"] == REDACTED and line["token"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "accept": "json"}
    assert line["nats"] == f"nats://{REDACTED}@nats:4222"


@pytest.mark.parametrize(
    ("key", "secret"),
    [("password", True), ("new_password", True), ("db_pass", True), ("access_token", True),
     ("Set-Cookie", True), ("client_secret", True), ("api_key", True), ("passed", False),
     ("bypass", False), ("tokenizer", False), ("auth_required", False), ("username", False)],
)  # fmt: skip
def test_keys_that_name_a_secret_are_told_apart_from_look_alikes(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_a_process_running_every_role_labels_events_by_module() -> None:
    cap = Captured()
    configure_logging(
        service="up", by_module=True, shipper=cap.shipper, stream=cap.stream, cache_loggers=False
    )
    try:
        structlog.get_logger("edge.app").info("a")
        structlog.get_logger("actors.feeds.synthetic").info("b")
        structlog.get_logger("actors.host").info("c")
        logging.getLogger("asyncio").error("d")
    finally:
        reset_logging()
    assert [line["service"] for line in cap.lines()] == ["edge", "feed", "actors", "up"]
    assert [s for s, _ in cap.shipped()] == [
        "deltastream.logs.edge", "deltastream.logs.feed",
        "deltastream.logs.actors", "deltastream.logs.up",
    ]  # fmt: skip


def test_an_exception_is_one_line_with_its_traceback(captured: Captured) -> None:
    try:
        raise ValueError("bad strike")
    except ValueError:
        structlog.get_logger("actors.service").exception("service_handler_failed")
    (line,) = captured.lines()
    assert line["level"] == "error" and "ValueError: bad strike" in line["exception"]


def test_an_oversized_event_is_cut_to_the_limit_and_says_so() -> None:
    raw = encode_event({"event": "dump", "level": "info", "blob": "x" * 100_000, "n": object()})
    event = json.loads(raw)
    assert len(raw) <= MAX_EVENT_BYTES and event["truncated"] is True
    assert event["event"] == "dump" and event["n"].startswith("<object")
    many = {f"k{i}": "y" * 3000 for i in range(40)} | {"event": "wide", "level": "info"}
    narrowed = json.loads(encode_event(many))
    assert set(narrowed) == {"event", "level", "truncated"}


@pytest.mark.parametrize(
    ("level", "rank"),
    [("debug", 10), ("info", 20), ("WARNING", 30), ("warn", 30), ("exception", 40),
     ("critical", 50), ("nonsense", 20), (None, 20)],
)  # fmt: skip
def test_levels_are_ordered_and_unknown_ones_count_as_info(level: object, rank: int) -> None:
    assert level_rank(level) == rank
