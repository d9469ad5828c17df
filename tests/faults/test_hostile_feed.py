"""Hostile feed input through the live ingress: hypothesis-generated bad messages published
to a real FEED each land in the DLQ with their reason and their bytes; extreme but valid
messages never crash an actor or stall the ingress."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import nats
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import subjects
from actors.host import ActorHost
from actors.messages import (
    MAX_COUNT,
    MAX_EPOCH_NS,
    MAX_PRICE,
    MAX_ROWS_PER_MESSAGE,
    MIN_EPOCH_NS,
)
from actors.natsserver import NatsServer
from actors.products import DEFAULT_PRODUCTS
from tests.conftest import WAIT_S, test_settings, wait_handled
from tests.faults.dead_letters import DeadLetterLog
from tests.feeding import START_NS, market, publish, session

EXPIRY = "2026-12-29"
TS = START_NS + 10**9
UNDERLYING = subjects.feed_underlying("NIFTY")
QUOTES = subjects.feed_quotes("NIFTY", EXPIRY)
MAX_PAYLOAD_BYTES = 512 * 1024
FUZZ_EXAMPLES = 250
EXTREME_EXAMPLES = 120
# Room for the fuzz to start chains of its own without reaching the cap by accident.
MAX_CHAINS = 64

PRODUCT_RE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
SCHEMA = frozenset({"schema_invalid"})
MISMATCH = frozenset({"subject_mismatch"})
OFF_GRID = frozenset({"off_grid_strike"})


@dataclass(frozen=True)
class Hostile:
    kind: str
    subject: str
    payload: bytes
    reasons: frozenset[str]


_json = msgspec.json.encode


def _tick(**fields: Any) -> dict[str, Any]:
    return {"ts": TS, "product": "NIFTY", "price": 26010.5, **fields}


def _row(**fields: Any) -> dict[str, Any]:
    row = {"strike": 26000, "right": "C", "bid": 101.5, "ask": 102.0, "ltp": 101.8}
    return {**row, "oi": 1000, "volume": 10, **fields}


def _quotes(*rows: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"ts": TS, "product": "NIFTY", "expiry": EXPIRY, "quotes": list(rows), **fields}


def _raw(body: dict[str, Any], **tokens: str) -> bytes:
    """JSON with some values replaced by raw tokens (NaN, Infinity, 1e999: not JSON)."""
    text = json.dumps(body)
    for name, token in tokens.items():
        text = text.replace(json.dumps(f"@{name}@"), token)
    return text.encode()


# ---------------------------------------------------------------- strategies of bad input

_junk = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
_not_int = st.one_of(
    _junk, st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer())
)
_not_text = st.one_of(
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=3), max_size=3),
)
_negative = st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False)
_above_price = st.floats(min_value=MAX_PRICE * 1.000001, allow_nan=False, allow_infinity=False)
_nonfinite_tokens = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
# Printable, non-ASCII-or-lower-case names: never a valid product, never a NATS wildcard.
_unicode_names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Z"), blacklist_characters=".*>"),
    min_size=1,
    max_size=12,
).filter(lambda s: not PRODUCT_RE.fullmatch(s))


@st.composite
def wrong_types(draw: st.DrawFn) -> Hostile:
    where = draw(st.sampled_from(["tick", "chain", "row"]))
    if where == "tick":
        field = draw(st.sampled_from(["ts", "product", "price"]))
        value = draw(
            {"ts": _not_int, "product": _not_text, "price": st.one_of(_junk, st.none())}[field]
        )
        return Hostile("wrong_type", UNDERLYING, _json(_tick(**{field: value})), SCHEMA)
    if where == "chain":
        field = draw(st.sampled_from(["ts", "product", "expiry", "quotes", "spot"]))
        value = draw(
            {
                "ts": _not_int,
                "product": _not_text,
                "expiry": st.one_of(_not_text, st.text(max_size=12).filter(_not_iso_date)),
                "quotes": st.one_of(
                    st.text(),
                    st.integers(),
                    st.none(),
                    st.dictionaries(st.text(), st.integers()),
                    st.lists(st.one_of(st.integers(), st.text(), st.none()), min_size=1),
                ),
                "spot": _junk,
            }[field]
        )
        return Hostile("wrong_type", QUOTES, _json(_quotes(_row(), **{field: value})), SCHEMA)
    field = draw(st.sampled_from(["strike", "right", "bid", "ask", "ltp", "oi", "volume"]))
    value = draw(
        {
            "strike": st.one_of(_junk, st.none()),
            "right": st.one_of(_not_text, st.text(max_size=3).filter(_not_a_right)),
            "oi": _not_int,
            "volume": _not_int,
        }.get(field, _junk)
    )
    return Hostile("wrong_type", QUOTES, _json(_quotes(_row(**{field: value}))), SCHEMA)


def _not_a_right(text: str) -> bool:
    return text not in ("C", "P")


def _not_iso_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return True
    return False


@st.composite
def missing_fields(draw: st.DrawFn) -> Hostile:
    where = draw(st.sampled_from(["tick", "chain", "row"]))
    if where == "tick":
        body = _tick()
        del body[draw(st.sampled_from(sorted(body)))]
        return Hostile("missing", UNDERLYING, _json(body), SCHEMA)
    if where == "chain":
        body = _quotes(_row())
        del body[draw(st.sampled_from(["ts", "product", "expiry", "quotes"]))]
        return Hostile("missing", QUOTES, _json(body), SCHEMA)
    row = _row()
    del row[draw(st.sampled_from(["strike", "right"]))]
    return Hostile("missing", QUOTES, _json(_quotes(row)), SCHEMA)


@st.composite
def non_finite(draw: st.DrawFn) -> Hostile:
    token = draw(_nonfinite_tokens)
    if draw(st.booleans()):
        field = draw(st.sampled_from(["price", "ts"]))
        return Hostile("non_finite", UNDERLYING, _raw(_tick(**{field: "@x@"}), x=token), SCHEMA)
    field = draw(st.sampled_from(["strike", "bid", "ask", "ltp", "oi", "volume"]))
    if draw(st.booleans()):
        body = _quotes(_row(), spot="@x@")
    else:
        body = _quotes(_row(**{field: "@x@"}))
    return Hostile("non_finite", QUOTES, _raw(body, x=token), SCHEMA)


@st.composite
def out_of_range(draw: st.DrawFn) -> Hostile:
    choice = draw(st.sampled_from(["price", "ts", "strike", "bid", "oi", "volume"]))
    if choice == "price":
        value = draw(st.one_of(_negative, st.just(0.0), _above_price))
        return Hostile("range", UNDERLYING, _json(_tick(price=value)), SCHEMA)
    if choice == "ts":
        # below 2000-01-01 (a ts in seconds or milliseconds) or after 2200-01-01
        value = draw(
            st.one_of(
                st.integers(max_value=MIN_EPOCH_NS - 1), st.integers(min_value=MAX_EPOCH_NS + 1)
            )
        )
        return Hostile("range", UNDERLYING, _json(_tick(ts=value)), SCHEMA)
    if choice in ("strike", "bid"):
        value = draw(
            st.one_of(_negative, _above_price)
            if choice == "bid"
            else st.one_of(_negative, st.just(0.0), _above_price)
        )
        return Hostile("range", QUOTES, _json(_quotes(_row(**{choice: value}))), SCHEMA)
    value = draw(st.one_of(st.integers(max_value=-1), st.integers(min_value=MAX_COUNT + 1)))
    return Hostile("range", QUOTES, _json(_quotes(_row(**{choice: value}))), SCHEMA)


@st.composite
def huge(draw: st.DrawFn) -> Hostile:
    if draw(st.booleans()):
        n = draw(st.integers(MAX_ROWS_PER_MESSAGE + 1, MAX_ROWS_PER_MESSAGE + 500))
        body = _json(_quotes(*[{"strike": 26000, "right": "C"}] * n))
        return Hostile("huge_array", QUOTES, body, SCHEMA)
    pad = draw(st.integers(MAX_PAYLOAD_BYTES + 1, 900 * 1024))
    body = _json(_tick(padding="x" * pad))
    return Hostile("oversized", UNDERLYING, body, frozenset({"oversized_payload"}))


@st.composite
def unicode_products(draw: st.DrawFn) -> Hostile:
    name = draw(_unicode_names)
    if draw(st.booleans()):
        # In the subject: not a well-formed feed subject.
        return Hostile(
            "unicode_subject",
            f"deltastream.feed.underlying.{name}",
            _json(_tick(product=name)),
            MISMATCH,
        )
    return Hostile("unicode_payload", UNDERLYING, _json(_tick(product=name)), SCHEMA)


@st.composite
def mismatches(draw: st.DrawFn) -> Hostile:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        other = draw(st.sampled_from(["BANKNIFTY", "FINNIFTY", "X1"]))
        return Hostile("mismatch", UNDERLYING, _json(_tick(product=other)), MISMATCH)
    if choice == 1:
        day = draw(
            st.dates(dt.date(2026, 11, 26), dt.date(2030, 1, 1)).filter(
                lambda d: d.isoformat() != EXPIRY
            )
        )
        body = _json(_quotes(_row(), expiry=day.isoformat()))
        return Hostile("mismatch", QUOTES, body, MISMATCH)
    if choice == 2:
        return Hostile("mismatch", QUOTES, _json(_tick()), SCHEMA)
    if choice == 3:
        return Hostile("mismatch", UNDERLYING, _json(_quotes(_row())), SCHEMA)
    subject = draw(
        st.sampled_from(
            [
                "deltastream.feed.quotes.NIFTY",
                "deltastream.feed.quotes.NIFTY.2026-02-30",
                "deltastream.feed.quotes.NIFTY.29-12-2026",
                "deltastream.feed.trades.NIFTY",
                "deltastream.feed.underlying.NIFTY.extra",
                "deltastream.feed.underlying.nifty",
                "deltastream.feed.chain.NIFTY.2026-12-29.x",
            ]
        )
    )
    return Hostile("bad_subject", subject, _json(_quotes(_row())), MISMATCH)


@st.composite
def garbage(draw: st.DrawFn) -> Hostile:
    subject = draw(st.sampled_from([UNDERLYING, QUOTES, subjects.feed_chain("NIFTY", EXPIRY)]))
    payload = draw(
        st.one_of(
            st.binary(max_size=300),
            st.one_of(st.integers(), st.text(), st.lists(st.integers()), st.none()).map(
                msgspec.json.encode
            ),
        )
    )
    return Hostile("garbage", subject, payload, SCHEMA)


@st.composite
def semantic(draw: st.DrawFn) -> Hostile:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        ask = draw(st.floats(0, 1000, allow_nan=False))
        bid = draw(st.floats(min_value=ask, max_value=MAX_PRICE).filter(lambda b: b > ask))
        body = _quotes(_row(bid=bid, ask=ask))
        return Hostile("crossed", QUOTES, _json(body), frozenset({"crossed_quote"}))
    if choice == 1:
        row = _row(right=draw(st.sampled_from(["C", "P"])))
        body = _quotes(row, dict(row, bid=1.0, ask=2.0))
        return Hostile("duplicate", QUOTES, _json(body), frozenset({"duplicate_row"}))
    if choice == 2:
        strike = 50 * draw(st.integers(1, 2000)) + draw(st.floats(0.5, 49.5))
        body = _quotes(_row(strike=strike))
        return Hostile("off_grid", QUOTES, _json(body), OFF_GRID)
    day = draw(st.dates(dt.date(2000, 1, 1), dt.date(2026, 11, 24)))
    subject = subjects.feed_quotes("NIFTY", day.isoformat())
    body = _quotes(_row(), expiry=day.isoformat())
    return Hostile("expired", subject, _json(body), frozenset({"expired"}))


HOSTILE = st.one_of(
    wrong_types(),
    missing_fields(),
    non_finite(),
    out_of_range(),
    huge(),
    unicode_products(),
    mismatches(),
    garbage(),
    semantic(),
)


# ---------------------------------------------------------------- the live system


@dataclass
class Live:
    host: ActorHost
    nc: Any
    dead: DeadLetterLog
    loop: asyncio.AbstractEventLoop

    async def send(self, subject: str, payload: bytes) -> int:
        ack = await self.nc.jetstream().publish(subject, payload, timeout=WAIT_S)
        await wait_handled(self.host, ack.seq)
        return int(ack.seq)

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the test's loop from hypothesis' thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT_S * 2)


@pytest.fixture
async def live(nats_server: NatsServer) -> AsyncIterator[Live]:
    host = ActorHost(
        test_settings(nats_server.url, max_chains=MAX_CHAINS, max_payload_bytes=MAX_PAYLOAD_BYTES),
        DEFAULT_PRODUCTS,
    )
    await host.start()
    nc = await nats.connect(nats_server.url)
    dead = await DeadLetterLog(nc).start()
    try:
        # NIFTY is live first, so mutated NIFTY messages meet real chains.
        await publish(nats_server.url, session(market(), steps=2))
        info = await nc.jetstream().stream_info(subjects.FEED_STREAM)
        await wait_handled(host, info.state.last_seq)
        yield Live(host, nc, dead, asyncio.get_running_loop())
    finally:
        await dead.stop()
        await nc.close()
        await host.stop()


def _fuzz(examples: int, strategy: st.SearchStrategy[Any], check: Callable[[Any], None]) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(strategy)
    def run(example: Any) -> None:
        check(example)

    run()


async def test_every_hostile_message_lands_in_the_dlq_with_its_reason(live: Live) -> None:
    kinds: set[str] = set()

    def check(bad: Hostile) -> None:
        seq = live.run(live.send(bad.subject, bad.payload))
        letter = live.run(live.dead.wait(seq))
        assert letter.reason in bad.reasons, (bad.kind, letter.reason, letter.detail)
        assert letter.detail, bad.kind
        assert letter.data == bad.payload  # the original bytes, untouched
        assert letter.original_subject == bad.subject
        kinds.add(bad.kind)

    await asyncio.to_thread(_fuzz, FUZZ_EXAMPLES, HOSTILE, check)
    assert len(kinds) >= 12, kinds  # the strategy really covered the classes of bad input
    sup = live.host.supervisor
    assert sup is not None and sup.restart_count == 0 and not sup.escalated
    # Still serving, and a good message still goes through.
    seq = await live.send(UNDERLYING, _json(_tick(ts=TS + 10**9, price=26020.0)))
    assert seq not in live.dead.by_seq
    reply = await live.nc.request(
        subjects.service_subject("underlying"), b'{"product": "NIFTY"}', timeout=WAIT_S
    )
    assert msgspec.json.decode(reply.data)["price"] == 26020.0


# ---------------------------------------------------------------- extreme but valid


_extreme_price = st.one_of(
    st.floats(min_value=5e-324, max_value=MAX_PRICE),
    st.sampled_from([5e-324, 1e-300, 1e-9, 1.0, MAX_PRICE]),
)
_extreme_count = st.one_of(st.integers(0, MAX_COUNT), st.sampled_from([0, 1, MAX_COUNT]))
_maybe = st.none() | _extreme_price


@st.composite
def extreme_valid(draw: st.DrawFn) -> tuple[str, bytes]:
    product = draw(st.sampled_from(["NIFTY", "XTREME"]))
    if draw(st.integers(0, 3)) == 0:
        body = {
            "ts": draw(st.integers(MIN_EPOCH_NS, MAX_EPOCH_NS)),
            "product": product,
            "price": draw(_extreme_price),
        }
        return subjects.feed_underlying(product), _json(body)
    expiry = draw(st.sampled_from([EXPIRY, "2027-01-28", "2036-06-26", "2026-11-26"]))
    step = DEFAULT_PRODUCTS["NIFTY"].strike_step if product == "NIFTY" else None
    strikes = st.integers(1, 40_000).map(lambda k: float(k * step)) if step else _extreme_price
    rows = draw(
        st.lists(
            st.fixed_dictionaries(
                {"strike": strikes, "right": st.sampled_from(["C", "P"])},
                optional={
                    "ltp": _maybe,
                    "oi": st.none() | _extreme_count,
                    "volume": st.none() | _extreme_count,
                    "bid": _maybe,
                },
            ),
            max_size=30,
            unique_by=lambda r: (r["strike"], r["right"]),
        )
    )
    for row in rows:  # an ask at or above the bid, sometimes
        if isinstance(row.get("bid"), float) and draw(st.booleans()):
            row["ask"] = draw(st.floats(row["bid"], MAX_PRICE))
    body = {
        "ts": draw(st.integers(MIN_EPOCH_NS, START_NS + 30 * 86400 * 10**9)),
        "product": product,
        "expiry": expiry,
        "quotes": rows,
    }
    if draw(st.booleans()):
        body["spot"] = draw(_extreme_price)
    kind = draw(st.sampled_from(["quotes", "chain"]))
    return f"deltastream.feed.{kind}.{product}.{expiry}", _json(body)


async def test_extreme_valid_values_never_crash_an_actor_or_stall_the_ingress(
    live: Live,
) -> None:
    ingress = live.host.ingress
    assert ingress is not None
    outcomes: set[str] = set()

    async def probe(subject: str, payload: bytes) -> str:
        accepted, rejected = ingress.accepted, sum(ingress.rejected.values())
        seq = await live.send(subject, payload)
        if ingress.accepted == accepted + 1:
            # Applied: every chain of the product still answers after its recompute.
            product = subject.split(".")[3]
            reply = await live.nc.request(
                subjects.service_subject("summaries"),
                _json({"product": product}),
                timeout=WAIT_S,
            )
            assert not (reply.headers or {}).get("Nats-Service-Error-Code"), reply.headers
            return "applied"
        assert sum(ingress.rejected.values()) == rejected + 1
        letter = await live.dead.wait(seq)
        assert letter.reason not in ("actor_failed", "max_deliveries"), letter
        return letter.reason

    def check(example: tuple[str, bytes]) -> None:
        outcomes.add(live.run(probe(*example)))
        sup = live.host.supervisor
        assert sup is not None and sup.restart_count == 0, "an actor crashed"

    await asyncio.to_thread(_fuzz, EXTREME_EXAMPLES, extreme_valid(), check)
    assert "applied" in outcomes
    for product in ("NIFTY", "XTREME"):  # the product actors survived every smile and total
        reply = await live.nc.request(
            subjects.service_subject("surface"),
            _json({"product": product}),
            timeout=WAIT_S,
        )
        assert (reply.headers or {}).get("Nats-Service-Error-Code") in (None, "404"), product
    health = live.host.health()
    assert health["healthy"] and health["restarts"] == 0, health
