"""Every class of bad feed input ends in the DLQ with its reason; the actors keep serving."""

from __future__ import annotations

import asyncio
import time

import msgspec
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from actors import subjects
from actors.host import ActorHost
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.conftest import test_settings, wait_handled
from tests.feeding import START_NS, market, publish, session

EXPIRY = "2026-12-29"
GOOD_ROW = {"strike": 26000, "right": "C", "bid": 100.0, "ask": 101.0}


def _quotes(*rows: dict[str, object], expiry: str = EXPIRY, **extra: object) -> bytes:
    body = {"ts": START_NS + 10**9, "product": "NIFTY", "expiry": expiry, "quotes": list(rows)}
    body.update(extra)
    return msgspec.json.encode(body)


QUOTES = subjects.feed_quotes("NIFTY", EXPIRY)
UNDERLYING = subjects.feed_underlying("NIFTY")
_TICK = b'{"ts": %d, "product": "NIFTY"' % START_NS  # the rest per case

# (subject, payload, reason): one per class of bad input
BAD = [
    (UNDERLYING, b"not json", "schema_invalid"),
    (UNDERLYING, _TICK + b"}", "schema_invalid"),
    (UNDERLYING, _TICK + b', "price": NaN}', "schema_invalid"),
    (UNDERLYING, _TICK + b', "price": 1e999}', "schema_invalid"),
    (UNDERLYING, _TICK + b', "price": -5}', "schema_invalid"),
    (UNDERLYING, _TICK + b', "price": "24000"}', "schema_invalid"),
    # a ts in seconds, and one a day ahead of this machine's clock (the host allows 300 s)
    (UNDERLYING, b'{"ts": 1795587000, "product": "NIFTY", "price": 5}', "schema_invalid"),
    (
        UNDERLYING,
        b'{"ts": %d, "product": "NIFTY", "price": 5}' % (time.time_ns() + 86400 * 10**9),
        "ts_in_future",
    ),
    (QUOTES, _quotes({"strike": 26000, "right": "C", "oi": -1}), "schema_invalid"),
    (QUOTES, _quotes({"strike": 26000, "right": "X"}), "schema_invalid"),
    (
        subjects.feed_underlying("BANKNIFTY"),
        b'{"ts": 1795587000000000000, "product": "NIFTY", "price": 5}',
        "subject_mismatch",
    ),
    (QUOTES, _quotes(GOOD_ROW, expiry="2026-12-22"), "subject_mismatch"),
    ("deltastream.feed.quotes.NIFTY", _quotes(GOOD_ROW), "subject_mismatch"),
    (
        subjects.feed_quotes("NIFTY", "2026-11-24"),
        _quotes(GOOD_ROW, expiry="2026-11-24"),
        "expired",
    ),
    (
        subjects.feed_quotes("NIFTY", "2040-01-26"),
        _quotes(GOOD_ROW, expiry="2040-01-26"),
        "expiry_too_far",
    ),
    (QUOTES, _quotes({"strike": 26010, "right": "C", "bid": 1.0}), "off_grid_strike"),
    (QUOTES, _quotes(GOOD_ROW, GOOD_ROW), "duplicate_row"),
    (QUOTES, _quotes({"strike": 26000, "right": "P", "bid": 9.0, "ask": 8.0}), "crossed_quote"),
    (
        QUOTES,
        _quotes(
            *[{"strike": 26000 + 50 * i, "right": "C", "bid": 1.0, "ask": 2.0} for i in range(600)]
        ),
        "oversized_payload",
    ),
    (
        subjects.feed_underlying("ZZTOP"),
        b'{"ts": 1795587000000000000, "product": "ZZTOP", "price": 5}',
        "unknown_product",
    ),
]


async def _dead_letters(url: str, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        info = await js.add_consumer(subjects.DLQ_STREAM, ConsumerConfig(ack_policy=AckPolicy.NONE))
        sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.DLQ_STREAM)
        out: list[tuple[str, dict[str, str], bytes]] = []
        while len(out) < count:
            for m in await sub.fetch(count - len(out), timeout=10):
                out.append((m.subject, dict(m.headers or {}), m.data))
        return out
    finally:
        await nc.close()


@pytest.fixture
async def strict_host(nats_server: NatsServer) -> ActorHost:
    settings = test_settings(
        nats_server.url, restrict_products=True, max_payload_bytes=16_384, max_ts_ahead_s=300.0
    )
    host = ActorHost(settings, DEFAULT_PRODUCTS)
    await host.start()
    yield host  # type: ignore[misc]
    await host.stop()


async def _after_a_session(
    host: ActorHost, url: str, messages: list[tuple[str, bytes]]
) -> list[int]:
    """A one-step NIFTY session, then ``messages`` published into FEED as they are; their
    FEED sequences, once the host handled them all."""
    await publish(url, session(market(("NIFTY",), weekly=0, monthly=1), steps=1))
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        seqs = [(await js.publish(subject, payload)).seq for subject, payload in messages]
    finally:
        await nc.close()
    await wait_handled(host, seqs[-1])
    return seqs


async def test_each_bad_input_is_dead_lettered_with_its_reason_and_payload(
    nats_server: NatsServer, strict_host: ActorHost
) -> None:
    seqs = await _after_a_session(strict_host, nats_server.url, [(s, p) for s, p, _ in BAD])

    letters = await _dead_letters(nats_server.url, len(BAD))
    by_seq = {int(h["Deltastream-Stream-Seq"]): (s, h, d) for s, h, d in letters}
    for seq, (subject, payload, reason) in zip(seqs, BAD, strict=True):
        dlq_subject, headers, data = by_seq[seq]
        assert headers["Deltastream-Reason"] == reason, (subject, payload[:60], headers)
        assert headers["Deltastream-Subject"] == subject
        assert headers["Deltastream-Detail"]
        assert data == payload  # kept byte for byte
        assert dlq_subject.startswith("deltastream.dlq.")
    assert strict_host.ingress is not None
    stats = strict_host.ingress.stats()
    assert sum(stats["rejected"].values()) == len(BAD)

    # the actors kept serving: a good update after all that is applied and published
    assert (await _serves_after(nats_server.url, seqs[-1]))["product"] == "NIFTY"


async def _serves_after(url: str, seq: int) -> dict[str, object]:
    """The summary of a good update published now (one past FEED sequence ``seq``)."""
    nc = await nats.connect(url)
    try:
        got = asyncio.get_running_loop().create_future()

        async def on_summary(msg: nats.aio.msg.Msg) -> None:
            body = msgspec.json.decode(msg.data)
            if body["stream_seq"] > seq and not got.done():
                got.set_result(body)

        await nc.subscribe(subjects.analytics_summary("NIFTY", EXPIRY), cb=on_summary)
        await nc.flush()
        await nc.jetstream().publish(QUOTES, _quotes(GOOD_ROW))
        summary: dict[str, object] = await asyncio.wait_for(got, 10)
        return summary
    finally:
        await nc.close()


async def test_a_dead_letter_is_stored_once_even_if_the_message_is_rejected_again(
    nats_server: NatsServer, actor_host: ActorHost
) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        ack = await js.publish(UNDERLYING, b"{broken")
        await wait_handled(actor_host, ack.seq)
        # a restarted host re-reads FEED from its checkpoint and rejects the message again
        await actor_host.ingress.handle_batch(  # type: ignore[union-attr]
            await _refetch(js, ack.seq)
        )
        info = await js.stream_info(subjects.DLQ_STREAM)
        assert info.state.messages == 1
    finally:
        await nc.close()


async def _refetch(js: nats.js.JetStreamContext, seq: int) -> list[nats.aio.msg.Msg]:
    info = await js.add_consumer(
        subjects.FEED_STREAM,
        ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, deliver_policy="by_start_sequence", opt_start_seq=seq
        ),
    )
    sub = await js.pull_subscribe_bind(consumer=info.name, stream=subjects.FEED_STREAM)
    return await sub.fetch(1, timeout=5)


async def test_what_nats_cannot_carry_back_is_cut_to_fit_and_the_host_keeps_serving(
    nats_server: NatsServer, strict_host: ActorHost
) -> None:
    # A body as large as NATS allows, plus the dead letter's headers, is more than the server
    # takes in one publish; a subject of ~4 KiB, mirrored under deltastream.dlq. with a reply
    # inbox, is more than its control line. Either made nats-server close the host's
    # connection (the host then served nothing, and again after every restart).
    assert strict_host.nc is not None
    huge = b"x" * (strict_host.nc.max_payload - 64)
    long_subject = subjects.feed_underlying("A" * 4000)
    seqs = await _after_a_session(
        strict_host, nats_server.url, [(UNDERLYING, huge), (long_subject, b"{}")]
    )

    letters = {
        int(h["Deltastream-Stream-Seq"]): (s, h, d)
        for s, h, d in await _dead_letters(nats_server.url, 2)
    }
    subject, headers, data = letters[seqs[0]]
    assert headers["Deltastream-Reason"] == "oversized_payload"
    assert headers["Deltastream-Truncated"] == str(len(huge))
    assert 0 < len(data) < len(huge) and huge.startswith(data)
    subject, headers, data = letters[seqs[1]]
    assert subject == "deltastream.dlq.invalid"
    assert headers["Deltastream-Reason"] == "subject_mismatch"
    assert long_subject.startswith(headers["Deltastream-Subject"])
    assert data == b"{}"
    assert strict_host.nc is not None and strict_host.nc.is_connected

    assert (await _serves_after(nats_server.url, seqs[-1]))["product"] == "NIFTY"
