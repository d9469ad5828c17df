"""ChainBook: quote semantics, session marks, and derived values that depend only on the
message sequence (not on when ``recompute`` ran, nor on a snapshot in between)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from actors import subjects
from actors.analytics import chain, expiry, surface
from actors.chain_book import CALL, PUT, ChainBook
from actors.chain_snapshot import BookSnapshot
from actors.messages import MAX_COUNT, ChainFeed, decode_chain_feed
from actors.products import DEFAULT_PRODUCTS, fallback_spec
from actors.validation import validate
from tests.feeding import START_NS, market, session

SPEC = DEFAULT_PRODUCTS["NIFTY"]
EXPIRY = dt.date(2026, 12, 29)
EXPIRY_NS = expiry.expiry_instant_ns(EXPIRY, expiry_time=SPEC.expiry_time, tz=SPEC.tz)
STRIKES = [25_800.0 + SPEC.strike_step * i for i in range(9)]
TICK = 0.05
SECOND_NS = 10**9
MAX_MESSAGES = 14

Message = tuple[str, dict[str, Any]]  # (kind, payload): kind ∈ underlying, chain, quotes


def _ist_ns(year: int, month: int, day: int, hour: int, minute: int) -> int:
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=ist).timestamp()) * SECOND_NS


def _feed(ts: int, rows: list[dict[str, Any]], **extra: Any) -> ChainFeed:
    body = {"ts": ts, "product": "NIFTY", "expiry": EXPIRY.isoformat(), "quotes": rows, **extra}
    return decode_chain_feed(msgspec.json.encode(body))


def _row(book: ChainBook, strike: float, right: str = "C") -> dict[str, Any]:
    """One option's row of the enriched chain, as a dict of its columns."""
    enriched = book.enriched()
    side = enriched.calls if right == "C" else enriched.puts
    i = enriched.strikes.index(strike)
    return {name: getattr(side, name)[i] for name in side.__struct_fields__}


def _apply(book: ChainBook, message: Message, seq: int) -> None:
    kind, payload = message
    if kind == "underlying":
        book.apply_spot(payload["price"], payload["ts"], seq)
        return
    feed = decode_chain_feed(msgspec.json.encode(payload))
    if kind == "chain":
        book.apply_chain(feed, seq)
    else:
        book.apply_quotes(feed, seq)


def _state(book: ChainBook) -> tuple[bytes, bytes, bytes]:
    """Every published view, bit for bit (msgpack keeps float64 bits, NaN and -0.0 too)."""
    return (
        msgspec.msgpack.encode(book.summary(published_ns=0)),
        msgspec.msgpack.encode(book.enriched(published_ns=0)),
        msgspec.msgpack.encode(book.max_pain()),
    )


def _run(messages: list[Message], *, recompute_each: bool) -> ChainBook:
    book = ChainBook(SPEC, EXPIRY)
    for seq, message in enumerate(messages, 1):
        _apply(book, message, seq)
        if recompute_each:
            book.recompute()
    book.recompute()
    return book


# ------------------------------------------------------------------ strategies

_prices = st.integers(1, 40_000).map(lambda n: round(n * TICK, 2))
_counts = st.integers(0, 5_000_000)


def _order_quote(row: dict[str, Any]) -> dict[str, Any]:
    bid, ask = row.get("bid"), row.get("ask")
    if bid is not None and ask is not None and bid > ask:
        row = {**row, "bid": ask, "ask": bid}
    return row


_rows = st.fixed_dictionaries(
    {"strike": st.sampled_from(STRIKES), "right": st.sampled_from(("C", "P"))},
    optional={
        "bid": st.none() | _prices,
        "ask": st.none() | _prices,
        "ltp": st.none() | _prices,
        "oi": st.none() | _counts,
        "volume": st.none() | _counts,
    },
).map(_order_quote)
_row_lists = st.lists(_rows, max_size=12, unique_by=lambda r: (r["strike"], r["right"]))
_spots = st.integers(2_400_000, 2_800_000).map(lambda n: n / 100)


@st.composite
def messages(draw: st.DrawFn, min_size: int = 1) -> list[Message]:
    """Valid NIFTY feed messages for one expiry; clock steps of up to half a day (so the
    session rolls) and occasionally backwards (subjects interleave out of ts order). A
    quotes batch may list strikes the book does not have yet (they are inserted)."""
    n = draw(st.integers(min_size, MAX_MESSAGES))
    ts = START_NS
    out: list[Message] = []
    for _ in range(n):
        ts += draw(st.integers(-60 * SECOND_NS, 12 * 3600 * SECOND_NS))
        kind = draw(st.sampled_from(("underlying", "chain", "quotes", "quotes")))
        if kind == "underlying":
            out.append((kind, {"ts": ts, "product": "NIFTY", "price": draw(_spots)}))
            continue
        payload: dict[str, Any] = {
            "ts": ts,
            "product": "NIFTY",
            "expiry": EXPIRY.isoformat(),
            "quotes": draw(_row_lists),
        }
        if draw(st.booleans()):
            payload["spot"] = draw(_spots)
        out.append((kind, payload))
    return out


@settings(max_examples=30, deadline=None)
@given(messages())
def test_generated_messages_pass_feed_validation(msgs: list[Message]) -> None:
    """The strategy only builds what ingress would let through to a chain."""
    for kind, payload in msgs:
        subject = (
            subjects.feed_underlying("NIFTY")
            if kind == "underlying"
            else getattr(subjects, f"feed_{kind}")("NIFTY", EXPIRY.isoformat())
        )
        valid = validate(
            subject,
            msgspec.json.encode(payload),
            products=DEFAULT_PRODUCTS,
            restrict_products=True,
            max_payload_bytes=1 << 20,
        )
        assert valid.subject.kind == kind


# ------------------------------------------------------------------ quotes semantics

T0 = START_NS
FULL_ROW = {"strike": 26_000, "right": "C", "bid": 10.0, "ask": 11.0, "ltp": 10.5, "oi": 100}


def _book_with_full_row() -> ChainBook:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(T0, [{**FULL_ROW, "volume": 5}], spot=26_010.0), 1)
    book.recompute()
    return book


def test_a_field_absent_from_a_quotes_batch_keeps_its_value() -> None:
    book = _book_with_full_row()
    book.apply_quotes(_feed(T0 + SECOND_NS, [{"strike": 26_000, "right": "C", "bid": 10.2}]), 2)
    book.recompute()
    row = _row(book, 26_000.0)
    assert (row["bid"], row["ask"], row["ltp"], row["oi"], row["volume"]) == (
        10.2,
        11.0,
        10.5,
        100,
        5,
    )


@pytest.mark.parametrize(
    ("field", "cleared"),
    [("bid", None), ("ask", None), ("ltp", None), ("oi", 0), ("volume", 0)],
)
def test_null_in_a_quotes_batch_clears_that_field_only(field: str, cleared: object) -> None:
    book = _book_with_full_row()
    before = _row(book, 26_000.0)
    book.apply_quotes(_feed(T0 + SECOND_NS, [{"strike": 26_000, "right": "C", field: None}]), 2)
    book.recompute()
    after = _row(book, 26_000.0)
    inputs = ("bid", "ask", "ltp", "oi", "volume")
    assert {k: after[k] for k in inputs} == {**{k: before[k] for k in inputs}, field: cleared}


def test_a_new_strike_in_a_quotes_batch_is_inserted_in_order_with_existing_rows_intact() -> None:
    book = ChainBook(SPEC, EXPIRY)
    rows = [
        {"strike": 25_900, "right": "P", "bid": 20.0, "ask": 21.0, "ltp": 20.5, "oi": 300},
        {"strike": 26_100, "right": "C", "bid": 30.0, "ask": 31.0, "ltp": 30.5, "oi": 700},
    ]
    book.apply_chain(_feed(T0, rows, spot=26_000.0), 1)
    book.apply_quotes(_feed(T0 + SECOND_NS, [{"strike": 26_100, "right": "C", "oi": 750}]), 2)
    book.recompute()
    before = {(k, r): _row(book, k, r) for k in (25_900.0, 26_100.0) for r in "CP"}

    new = [{"strike": 26_000, "right": "C", "bid": 5.0, "ask": 6.0, "oi": 40}]
    book.apply_quotes(_feed(T0 + 2 * SECOND_NS, new), 3)
    book.recompute()

    assert book.enriched().strikes == [25_900.0, 26_000.0, 26_100.0]
    inputs = ("bid", "ask", "ltp", "oi", "oi_change", "volume")
    after = {key: _row(book, *key) for key in before}
    assert {key: {f: v[f] for f in inputs} for key, v in after.items()} == {
        key: {f: v[f] for f in inputs} for key, v in before.items()
    }


def test_a_new_strike_in_a_quotes_batch_gets_its_own_values() -> None:
    book = _book_with_full_row()
    new = {"strike": 26_050, "right": "P", "bid": 5.0, "ask": 6.0, "oi": 40, "volume": 3}
    book.apply_quotes(_feed(T0 + SECOND_NS, [new]), 2)
    book.recompute()
    row = _row(book, 26_050.0, "P")
    assert (row["bid"], row["ask"], row["ltp"], row["oi"], row["volume"]) == (
        5.0,
        6.0,
        None,
        40,
        3,
    )


# ------------------------------------------------------------------ chain snapshots


def test_a_chain_snapshot_replaces_every_row() -> None:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(
        _feed(T0, [FULL_ROW, {"strike": 26_100, "right": "P", "bid": 1.0, "oi": 9}]), 1
    )
    # 26100 is gone; 26000 C keeps only what the new snapshot says (absent = no value).
    book.apply_chain(_feed(T0 + SECOND_NS, [{"strike": 26_000, "right": "C", "bid": 9.0}]), 2)
    book.recompute()
    row = _row(book, 26_000.0)
    assert book.enriched().strikes == [26_000.0]
    assert (row["bid"], row["ask"], row["ltp"], row["oi"], row["volume"]) == (
        9.0,
        None,
        None,
        0,
        0,
    )


def test_a_chain_snapshot_keeps_the_session_open_oi_and_ltp_marks() -> None:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(T0, [FULL_ROW]), 1)
    book.apply_chain(_feed(T0 + SECOND_NS, [{**FULL_ROW, "ltp": 12.0, "oi": 160}]), 2)
    book.recompute()
    row = _row(book, 26_000.0)
    assert (row["oi_change"], row["buildup"]) == (60, "long_buildup")


def test_a_strike_dropped_by_a_snapshot_and_listed_again_starts_new_marks() -> None:
    book = ChainBook(SPEC, EXPIRY)
    other = {"strike": 26_100, "right": "C", "ltp": 3.0, "oi": 10}
    book.apply_chain(_feed(T0, [FULL_ROW, other]), 1)
    book.apply_chain(_feed(T0 + SECOND_NS, [other]), 2)
    book.apply_chain(_feed(T0 + 2 * SECOND_NS, [{**FULL_ROW, "oi": 400}, other]), 3)
    book.recompute()
    assert _row(book, 26_000.0)["oi_change"] == 0


# ------------------------------------------------------------------ OI change and build-up


@pytest.mark.parametrize(
    ("ltp", "oi", "label"),
    [
        (12.0, 150, "long_buildup"),
        (9.0, 150, "short_buildup"),
        (12.0, 60, "short_covering"),
        (9.0, 60, "long_unwinding"),
        (10.5, 150, "neutral"),
        (12.0, 100, "neutral"),
    ],
)
def test_oi_change_is_measured_from_the_session_open_and_classifies_the_buildup(
    ltp: float, oi: int, label: str
) -> None:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(T0, [FULL_ROW]), 1)
    book.apply_quotes(
        _feed(T0 + SECOND_NS, [{"strike": 26_000, "right": "C", "ltp": ltp, "oi": 130}]), 2
    )
    book.apply_quotes(_feed(T0 + 2 * SECOND_NS, [{"strike": 26_000, "right": "C", "oi": oi}]), 3)
    book.recompute()
    row = _row(book, 26_000.0)
    assert (row["oi_change"], row["buildup"]) == (oi - FULL_ROW["oi"], label)


def test_summary_oi_change_is_the_sum_of_row_changes_per_side() -> None:
    book = ChainBook(SPEC, EXPIRY)
    rows = [
        {"strike": 26_000, "right": "C", "oi": 100},
        {"strike": 26_050, "right": "C", "oi": 200},
        {"strike": 26_000, "right": "P", "oi": 300},
    ]
    book.apply_chain(_feed(T0, rows), 1)
    changes = [
        {"strike": 26_000, "right": "C", "oi": 130},
        {"strike": 26_050, "right": "C", "oi": 180},
        {"strike": 26_000, "right": "P", "oi": 250},
    ]
    book.apply_quotes(_feed(T0 + SECOND_NS, changes), 2)
    book.recompute()
    s = book.summary()
    assert (s.call_oi_change, s.put_oi_change, s.call_oi, s.put_oi) == (10, -50, 310, 250)


# ------------------------------------------------------------------ OI and volume totals


def _assert_totals_are_the_row_sums(book: ChainBook) -> None:
    assert book.oi_total.tolist() == np.sum(book.oi, axis=1).tolist()
    assert book.volume_total.tolist() == np.sum(book.volume, axis=1).tolist()


def _restored(book: ChainBook) -> ChainBook:
    """Through msgpack, as the snapshot store keeps it."""
    wire = msgspec.msgpack.encode(book.to_snapshot())
    return ChainBook.from_snapshot(SPEC, msgspec.msgpack.decode(wire, type=BookSnapshot))


def _chain_msg(kind: str, ts: int, rows: list[dict[str, Any]]) -> Message:
    return (kind, {"ts": ts, "product": "NIFTY", "expiry": EXPIRY.isoformat(), "quotes": rows})


DAY_NS = 24 * 3600 * SECOND_NS
# Every case in one sequence, so each run of the property below covers it at least once.
TOTALS_STORY: list[Message] = [
    # Before any snapshot: both strikes are inserted into the empty book.
    _chain_msg(
        "quotes",
        T0,
        [
            {"strike": 26_000, "right": "C", "oi": 100, "volume": 5},
            {"strike": 26_100, "right": "P", "oi": 7},
        ],
    ),
    # A snapshot replaces every row: an absent or null count is 0, 26_100 is gone.
    _chain_msg(
        "chain",
        T0 + SECOND_NS,
        [
            {"strike": 25_900, "right": "C", "oi": 10, "volume": 1},
            {"strike": 26_000, "right": "C", "oi": 200, "volume": None},
            {"strike": 26_000, "right": "P", "bid": 5.0},
        ],
    ),
    # A strike inserted between known ones, a count at the maximum, a null, an absent field.
    _chain_msg(
        "quotes",
        T0 + 2 * SECOND_NS,
        [
            {"strike": 26_050, "right": "P", "oi": MAX_COUNT, "volume": 3},
            {"strike": 26_000, "right": "C", "oi": None, "volume": 9},
            {"strike": 25_900, "right": "C", "bid": 1.0},
        ],
    ),
    ("underlying", {"ts": T0 + 3 * SECOND_NS, "product": "NIFTY", "price": 26_010.0}),
    # The next exchange day: a new session (the open marks reset, the counts do not).
    _chain_msg(
        "quotes",
        T0 + DAY_NS,
        [
            {"strike": 25_900, "right": "C", "oi": 11},
            {"strike": 26_150, "right": "C", "oi": 5, "volume": MAX_COUNT},
        ],
    ),
    _chain_msg(
        "quotes", T0 + DAY_NS + SECOND_NS, [{"strike": 25_900, "right": "C", "volume": None}]
    ),
]


@settings(max_examples=100, deadline=None)
@given(messages(), st.integers(0, MAX_MESSAGES))
@example(TOTALS_STORY, 3)
def test_the_running_oi_and_volume_totals_equal_the_sums_of_the_rows_per_side(
    msgs: list[Message], cut: int
) -> None:
    """After every message, in the book and in one restored from a snapshot after message
    ``cut`` and fed the rest; and in the summary, so in its PCRs."""
    books = [ChainBook(SPEC, EXPIRY)]
    for seq, message in enumerate(msgs, 1):
        if seq == cut + 1:
            books.append(_restored(books[0]))
            _assert_totals_are_the_row_sums(books[-1])
        for book in books:
            _apply(book, message, seq)
            _assert_totals_are_the_row_sums(book)
    books.append(_restored(books[0]))
    for book in books:
        _assert_totals_are_the_row_sums(book)
        book.recompute()
        s = book.summary()
        (call_oi, put_oi), (call_volume, put_volume) = np.sum(book.oi, 1), np.sum(book.volume, 1)
        assert (s.call_oi, s.put_oi, s.call_volume, s.put_volume) == (
            call_oi,
            put_oi,
            call_volume,
            put_volume,
        )
        assert msgspec.msgpack.encode((s.pcr_oi, s.pcr_volume)) == msgspec.msgpack.encode(
            (chain.pcr(put_oi, call_oi), chain.pcr(put_volume, call_volume))
        )


def test_a_quotes_batch_moves_the_totals_by_its_written_cells_only() -> None:
    """No rescan: counts of rows the batch does not write are changed behind the book's
    back, and neither the totals nor the summary see it (a sum over the rows would)."""
    book = ChainBook(SPEC, EXPIRY)
    options = [(k, r) for k in STRIKES for r in ("C", "P")]
    rows = [
        {"strike": k, "right": r, "oi": 1_000 + i, "volume": 10 + i}
        for i, (k, r) in enumerate(options)
    ]
    book.apply_chain(_feed(T0, rows), 1)
    (call_oi, put_oi), (call_volume, put_volume) = book.oi_total, book.volume_total
    book.oi[CALL, 0] += 7_000
    book.volume[PUT, -1] += 900
    written_call, written_put = rows[2 * 3], rows[2 * 4 + 1]
    batch = [
        {"strike": written_call["strike"], "right": "C", "oi": 5_000, "volume": None},
        {"strike": written_put["strike"], "right": "P", "volume": 77},
    ]
    book.apply_quotes(_feed(T0 + SECOND_NS, batch), 2)
    expected = (
        call_oi + 5_000 - written_call["oi"],
        put_oi,
        call_volume - written_call["volume"],
        put_volume + 77 - written_put["volume"],
    )
    book.recompute()
    s = book.summary()
    assert (*book.oi_total.tolist(), *book.volume_total.tolist()) == expected
    assert (s.call_oi, s.put_oi, s.call_volume, s.put_volume) == expected
    rescanned = (*np.sum(book.oi, 1).tolist(), *np.sum(book.volume, 1).tolist())
    assert rescanned == (expected[0] + 7_000, expected[1], expected[2], expected[3] + 900)


def test_the_totals_stay_exact_past_float_precision() -> None:
    """Twenty calls at the largest count sum to 2·10¹⁶, past 2⁵³: a float total would
    lose the 1 taken off below."""
    book = ChainBook(SPEC, EXPIRY)
    strikes = [25_000 + SPEC.strike_step * i for i in range(20)]
    full = [{"strike": k, "right": "C", "oi": MAX_COUNT, "volume": MAX_COUNT} for k in strikes]
    book.apply_chain(_feed(T0, full), 1)
    less = {"strike": strikes[0], "right": "C", "oi": MAX_COUNT - 1, "volume": MAX_COUNT - 1}
    book.apply_quotes(_feed(T0 + SECOND_NS, [less]), 2)
    book.recompute()
    s = book.summary()
    total = 20 * MAX_COUNT - 1
    assert (s.call_oi, s.put_oi, s.call_volume, s.put_volume) == (total, 0, total, 0)


# ------------------------------------------------------------------ session roll


def test_a_new_exchange_date_resets_the_open_marks() -> None:
    """23:59 → 00:01 Asia/Kolkata is a new session although the UTC date is the same."""
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(_ist_ns(2026, 11, 25, 23, 59), [FULL_ROW]), 1)
    rolled = {**FULL_ROW, "ltp": 12.0, "oi": 160}
    book.apply_quotes(_feed(_ist_ns(2026, 11, 26, 0, 1), [rolled]), 2)
    book.recompute()
    row = _row(book, 26_000.0)
    assert (row["oi_change"], row["buildup"]) == (0, "neutral")


def test_a_new_utc_date_within_one_exchange_date_keeps_the_open_marks() -> None:
    """04:30 → 06:00 Asia/Kolkata crosses UTC midnight but not the exchange's."""
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(_ist_ns(2026, 11, 26, 4, 30), [FULL_ROW]), 1)
    later = {**FULL_ROW, "ltp": 12.0, "oi": 160}
    book.apply_quotes(_feed(_ist_ns(2026, 11, 26, 6, 0), [later]), 2)
    book.recompute()
    row = _row(book, 26_000.0)
    assert (row["oi_change"], row["buildup"]) == (60, "long_buildup")


def test_after_a_session_roll_oi_change_counts_from_the_first_value_of_the_new_day() -> None:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(_ist_ns(2026, 11, 25, 15, 0), [FULL_ROW]), 1)
    book.apply_quotes(_feed(_ist_ns(2026, 11, 26, 9, 15), [{**FULL_ROW, "oi": 140}]), 2)
    book.apply_quotes(_feed(_ist_ns(2026, 11, 26, 9, 20), [{**FULL_ROW, "oi": 175}]), 3)
    book.recompute()
    assert _row(book, 26_000.0)["oi_change"] == 35


def test_a_late_timestamp_from_the_previous_day_does_not_roll_the_session_back() -> None:
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(_feed(_ist_ns(2026, 11, 26, 9, 15), [FULL_ROW]), 1)
    book.apply_quotes(_feed(_ist_ns(2026, 11, 25, 23, 0), [{**FULL_ROW, "oi": 170}]), 2)
    book.recompute()
    assert (_row(book, 26_000.0)["oi_change"], book.session_date) == (70, dt.date(2026, 11, 26))


# ------------------------------------------------------------------ determinism


@settings(max_examples=120, deadline=None)
@given(messages())
def test_recomputing_after_every_message_or_once_at_the_end_gives_identical_views(
    msgs: list[Message],
) -> None:
    assert _state(_run(msgs, recompute_each=True)) == _state(_run(msgs, recompute_each=False))


@settings(max_examples=60, deadline=None)
@given(messages())
def test_the_atm_iv_priced_from_the_rows_near_the_money_equals_atm_vol_of_the_whole_smile(
    msgs: list[Message],
) -> None:
    book = ChainBook(SPEC, EXPIRY)
    for seq, message in enumerate(msgs, 1):
        _apply(book, message, seq)
        book.recompute()
        lazy = book.atm_iv()  # before anything else prices the rest of the chain
        whole = surface.atm_vol(
            book.strikes, call_iv=book.iv[0], put_iv=book.iv[1], forward=book.forward
        )
        assert msgspec.msgpack.encode(lazy) == msgspec.msgpack.encode(whole)


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12))
def test_a_synthetic_session_gives_identical_views_however_recomputes_are_coalesced(
    seed: int, steps: int
) -> None:
    m = market(seed=seed, weekly=1, monthly=0, strikes_each_side=10, rows_per_batch=6)
    exp = m.chains["NIFTY"][0].expiry.isoformat()
    msgs: list[Message] = [
        (f.subject.split(".")[2], f.payload)
        for f in session(m, steps)
        if f.payload.get("expiry", exp) == exp
    ]

    def run(each: bool) -> ChainBook:
        book = ChainBook(SPEC, dt.date.fromisoformat(exp))
        for seq, message in enumerate(msgs, 1):
            _apply(book, message, seq)
            if each:
                book.recompute()
        book.recompute()
        return book

    assert _state(run(True)) == _state(run(False))


@settings(max_examples=80, deadline=None)
@given(messages(min_size=2), st.data())
def test_restoring_a_snapshot_and_applying_the_rest_equals_never_snapshotting(
    msgs: list[Message], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(1, len(msgs) - 1), label="cut")
    recompute_before_snapshot = data.draw(st.booleans(), label="recompute_before_snapshot")
    book = ChainBook(SPEC, EXPIRY)
    for seq, message in enumerate(msgs[:cut], 1):
        _apply(book, message, seq)
    if recompute_before_snapshot:
        book.recompute()
    # Through msgpack, as the snapshot store keeps it.
    wire = msgspec.msgpack.encode(book.to_snapshot())
    restored = ChainBook.from_snapshot(SPEC, msgspec.msgpack.decode(wire, type=BookSnapshot))
    for seq, message in enumerate(msgs[cut:], cut + 1):
        _apply(restored, message, seq)
    restored.recompute()
    assert _state(restored) == _state(_run(msgs, recompute_each=False))


@settings(max_examples=100, deadline=None)
@given(messages())
def test_the_incremental_payout_curve_equals_the_curve_from_the_final_oi(
    msgs: list[Message],
) -> None:
    book = _run(msgs, recompute_each=True)
    enriched = book.enriched()
    expected = chain.payout_curve(
        np.array(enriched.strikes),
        call_oi=np.array(enriched.calls.oi, dtype=float),
        put_oi=np.array(enriched.puts.oi, dtype=float),
    )
    assert book.max_pain().payout == expected.tolist()


# ------------------------------------------------------------------ IV edge cases


def test_iv_is_nan_for_rows_without_any_price() -> None:
    book = ChainBook(SPEC, EXPIRY)
    rows = [
        {"strike": 26_000, "right": "C", "bid": 300.0, "ask": 302.0},
        {"strike": 26_000, "right": "P", "oi": 500},
        {"strike": 26_050, "right": "C", "bid": None, "ask": None, "ltp": None, "oi": 10},
    ]
    book.apply_chain(_feed(T0, rows, spot=26_000.0), 1)
    book.recompute()
    assert (
        _row(book, 26_000.0, "P")["iv"],
        _row(book, 26_050.0, "C")["iv"],
        _row(book, 26_050.0, "P")["iv"],
    ) == (None, None, None)


def test_iv_is_finite_for_a_priced_row_before_expiry() -> None:
    """The counterpart of the NaN cases: the same book prices a quoted row."""
    book = ChainBook(SPEC, EXPIRY)
    book.apply_chain(
        _feed(T0, [{"strike": 26_000, "right": "C", "bid": 300.0, "ask": 302.0}], spot=26_000.0),
        1,
    )
    book.recompute()
    iv = _row(book, 26_000.0)["iv"]
    assert iv is not None and 0.0 < iv < 1.0


@pytest.mark.parametrize("after_ns", [0, 1, 3600 * SECOND_NS])
def test_iv_is_nan_at_and_after_expiry_and_no_view_raises(after_ns: int) -> None:
    book = ChainBook(SPEC, EXPIRY)
    quoted = [
        {"strike": k, "right": r, "bid": 100.0, "ask": 101.0, "ltp": 100.5, "oi": 10}
        for k in (25_950, 26_000, 26_050)
        for r in ("C", "P")
    ]
    book.apply_chain(_feed(EXPIRY_NS - 3600 * SECOND_NS, quoted, spot=26_000.0), 1)
    book.recompute()
    assert any(iv is not None for iv in book.enriched().calls.iv)  # priced an hour before
    book.apply_spot(26_010.0, EXPIRY_NS + after_ns, 2)
    book.recompute()
    book.summary()
    book.smile()
    book.max_pain()
    enriched = book.enriched()
    assert book.t_years <= 0
    assert enriched.calls.iv + enriched.puts.iv == [None] * 6


# ------------------------------------------------------------------ known bugs


def test_max_pain_is_null_when_the_chain_has_no_open_interest() -> None:
    book = ChainBook(SPEC, EXPIRY)
    rows = [
        {"strike": 25_900, "right": "C", "bid": 200.0, "ask": 201.0},
        {"strike": 26_000, "right": "C", "bid": 150.0, "ask": 151.0},
    ]
    book.apply_chain(_feed(T0, rows, spot=26_000.0), 1)
    book.recompute()
    wire = msgspec.json.decode(msgspec.json.encode(book.summary()))
    assert (wire["call_oi"] + wire["put_oi"], wire["max_pain"], wire["max_pain_distance"]) == (
        0,
        None,
        None,
    )


def test_max_pain_does_not_depend_on_recompute_coalescing_on_a_decimal_strike_grid() -> None:
    spec = fallback_spec("ACME")
    batches = [
        [
            {"strike": 1.0, "right": "C", "oi": 445},
            {"strike": 1.1, "right": "C", "oi": 0},
            {"strike": 1.4, "right": "C", "oi": 0},
        ],
        [{"strike": 1.0, "right": "C", "oi": 0}],
    ]

    def run(each: bool) -> ChainBook:
        book = ChainBook(spec, EXPIRY)
        for seq, rows in enumerate(batches, 1):
            body = {"ts": T0 + seq, "product": "ACME", "expiry": EXPIRY.isoformat(), "quotes": rows}
            feed = decode_chain_feed(msgspec.json.encode(body))
            (book.apply_chain if seq == 1 else book.apply_quotes)(feed, seq)
            if each:
                book.recompute()
        book.recompute()
        return book

    assert _state(run(True)) == _state(run(False))
