"""validate(): every rejection has its stable reason code and a detail naming the field or
row; valid messages pass; nothing but FeedRejected ever escapes, whatever the bytes."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import errors, subjects
from actors.analytics import expiry
from actors.chain_book import ChainBook
from actors.errors import FeedRejected
from actors.messages import MIN_EPOCH_NS, ChainFeed, UnderlyingFeed
from actors.products import DEFAULT_PRODUCTS, ProductSpec
from actors.validation import ValidFeed, validate
from tests.feeding import START_NS

EXPIRY = "2026-12-29"
MAX_PAYLOAD_BYTES = 512 * 1024
UNDERLYING = subjects.feed_underlying("NIFTY")
QUOTES = subjects.feed_quotes("NIFTY", EXPIRY)
CHAIN = subjects.feed_chain("NIFTY", EXPIRY)
NIFTY_EXPIRY_NS = expiry.expiry_instant_ns(
    dt.date(2026, 12, 29), expiry_time=dt.time(15, 30), tz="Asia/Kolkata"
)
GOOD_ROW = {"strike": 26000, "right": "C", "bid": 100.0, "ask": 101.0, "oi": 5, "volume": 1}
# This host's clock in these tests: a day after every fixed ts here; ts up to 300 s ahead pass.
NOW_NS = NIFTY_EXPIRY_NS + 86400 * 10**9
MAX_AHEAD_NS = 300 * 10**9


def _check(
    subject: str,
    data: bytes,
    *,
    restrict: bool = False,
    products: dict[str, ProductSpec] | None = None,
    max_payload_bytes: int = MAX_PAYLOAD_BYTES,
) -> ValidFeed:
    return validate(
        subject,
        data,
        products=DEFAULT_PRODUCTS if products is None else products,
        restrict_products=restrict,
        max_payload_bytes=max_payload_bytes,
        now_ns=NOW_NS,
        max_ahead_ns=MAX_AHEAD_NS,
    )


def _chain(*rows: dict[str, Any], **fields: Any) -> bytes:
    body = {"ts": START_NS, "product": "NIFTY", "expiry": EXPIRY, "quotes": list(rows)}
    return msgspec.json.encode({**body, **fields})


def _tick(**fields: Any) -> bytes:
    return msgspec.json.encode({"ts": START_NS, "product": "NIFTY", "price": 26000.5, **fields})


def _rejected(subject: str, data: bytes, **kw: Any) -> FeedRejected:
    with pytest.raises(FeedRejected) as info:
        _check(subject, data, **kw)
    return info.value


# ------------------------------------------------------------------ valid messages


def test_a_valid_underlying_tick_passes_decoded() -> None:
    valid = _check(UNDERLYING, _tick())
    assert (valid.subject.kind, valid.spec.name, valid.message) == (
        "underlying",
        "NIFTY",
        UnderlyingFeed(ts=START_NS, product="NIFTY", price=26000.5),
    )


@pytest.mark.parametrize("subject", [QUOTES, CHAIN])
def test_a_valid_chain_message_passes_decoded(subject: str) -> None:
    valid = _check(subject, _chain(GOOD_ROW, {"strike": 26050.0, "right": "P"}, spot=26001.0))
    assert isinstance(valid.message, ChainFeed)
    assert (valid.subject.expiry, len(valid.message.quotes), valid.message.spot) == (
        EXPIRY,
        2,
        26001.0,
    )


def test_a_message_just_before_the_expiry_instant_passes() -> None:
    assert _check(QUOTES, _chain(GOOD_ROW, ts=NIFTY_EXPIRY_NS - 1)).message.ts == (
        NIFTY_EXPIRY_NS - 1
    )


def test_the_earliest_ts_and_the_farthest_expiry_accepted_pass() -> None:
    assert _check(UNDERLYING, _tick(ts=MIN_EPOCH_NS)).message.ts == MIN_EPOCH_NS
    latest = NOW_NS + MAX_AHEAD_NS
    assert _check(UNDERLYING, _tick(ts=latest)).message.ts == latest
    # 2036-11-18 15:30 IST is 9.98 years after START_NS (2026-11-25 10:00 IST)
    far = "2036-11-18"
    valid = _check(subjects.feed_quotes("NIFTY", far), _chain(GOOD_ROW, expiry=far))
    assert valid.message.expiry == dt.date(2036, 11, 18)
    with pytest.raises(errors.DistantExpiry):
        _check(subjects.feed_quotes("NIFTY", "2036-12-31"), _chain(GOOD_ROW, expiry="2036-12-31"))


def test_a_payload_of_exactly_the_limit_passes() -> None:
    data = _tick()
    assert _check(UNDERLYING, data, max_payload_bytes=len(data)).message.ts == START_NS


def test_one_sided_and_locked_quotes_are_not_crossed() -> None:
    rows = (
        {"strike": 26000, "right": "C", "bid": None, "ask": 5.0},
        {"strike": 26000, "right": "P", "bid": 5.0},
        {"strike": 26050, "right": "C", "bid": 7.0, "ask": 7.0},
    )
    assert len(_check(QUOTES, _chain(*rows)).message.quotes) == 3  # type: ignore[union-attr]


# ------------------------------------------------------------------ products


def test_an_unconfigured_product_passes_with_the_fallback_spec_when_not_restricted() -> None:
    data = msgspec.json.encode(
        {
            "ts": START_NS,
            "product": "ACME",
            "expiry": EXPIRY,
            "quotes": [{"strike": 101.37, "right": "C"}],
        }
    )
    valid = _check(subjects.feed_quotes("ACME", EXPIRY), data, restrict=False)
    assert (valid.spec.name, valid.spec.strike_step) == ("ACME", 0.0)


def test_an_unconfigured_product_is_rejected_when_restricted() -> None:
    data = msgspec.json.encode({"ts": START_NS, "product": "ACME", "price": 5.0})
    exc = _rejected(subjects.feed_underlying("ACME"), data, restrict=True)
    assert (exc.reason, "ACME" in str(exc)) == ("unknown_product", True)


def test_a_configured_product_passes_when_restricted() -> None:
    assert _check(UNDERLYING, _tick(), restrict=True).spec is DEFAULT_PRODUCTS["NIFTY"]


def test_a_restricted_product_set_uses_the_configured_spec_for_the_grid() -> None:
    products = {"ACME": ProductSpec(name="ACME", strike_step=2.5, lot_size=10)}
    data = msgspec.json.encode(
        {
            "ts": START_NS,
            "product": "ACME",
            "expiry": EXPIRY,
            "quotes": [{"strike": 101.0, "right": "C"}],
        }
    )
    exc = _rejected(subjects.feed_quotes("ACME", EXPIRY), data, restrict=True, products=products)
    assert exc.reason == "off_grid_strike"


# ------------------------------------------------------------------ every reason code

# (subject, payload, reason, substrings the detail must contain)
REJECTIONS: list[tuple[str, bytes, str, tuple[str, ...]]] = [
    (UNDERLYING, b"not json", "schema_invalid", ("malformed",)),
    (
        UNDERLYING,
        msgspec.json.encode({"ts": START_NS, "product": "NIFTY"}),
        "schema_invalid",
        ("price",),
    ),
    (UNDERLYING, _tick(price="@").replace(b'"@"', b"1e999"), "schema_invalid", ("$.price",)),
    (UNDERLYING, _tick(price=-5), "schema_invalid", ("$.price",)),
    (UNDERLYING, _tick(price="24000"), "schema_invalid", ("$.price",)),
    (UNDERLYING, _tick(ts=-1), "schema_invalid", ("$.ts",)),
    (UNDERLYING, _tick(ts=START_NS // 10**9), "schema_invalid", ("$.ts",)),  # seconds
    (UNDERLYING, _tick(ts=START_NS // 10**6), "schema_invalid", ("$.ts",)),  # milliseconds
    (QUOTES, _chain(GOOD_ROW, ts=START_NS // 10**3), "schema_invalid", ("$.ts",)),  # µs
    (UNDERLYING, _tick(product="nifty"), "schema_invalid", ("$.product",)),
    (
        UNDERLYING,
        _tick(ts=NOW_NS + MAX_AHEAD_NS + 10**9),
        "ts_in_future",
        ("301 s ahead", "at most 300 s"),
    ),
    (
        QUOTES,
        _chain(GOOD_ROW, ts=NOW_NS + 3 * 3600 * 10**9),
        "ts_in_future",
        ("10,800 s ahead",),
    ),
    (
        QUOTES,
        _chain({"strike": 26000, "right": "C", "oi": -1}),
        "schema_invalid",
        ("$.quotes[0].oi",),
    ),
    (
        QUOTES,
        _chain(GOOD_ROW, {"strike": 26000, "right": "X"}),
        "schema_invalid",
        ("$.quotes[1].right",),
    ),
    (
        QUOTES,
        _chain({"strike": 26000, "right": "C", "volume": 1.5}),
        "schema_invalid",
        ("$.quotes[0].volume",),
    ),
    (
        QUOTES,
        _chain({"strike": 26000, "right": "C", "bid": 2e9}),
        "schema_invalid",
        ("$.quotes[0].bid",),
    ),
    (QUOTES, _chain(*[{"strike": 26000, "right": "C"}] * 10_001), "schema_invalid", ("$.quotes",)),
    (QUOTES, _chain(GOOD_ROW, expiry="2026-02-30"), "schema_invalid", ("$.expiry",)),
    (QUOTES, _chain(GOOD_ROW, spot=0), "schema_invalid", ("$.spot",)),
    (subjects.feed_underlying("BANKNIFTY"), _tick(), "subject_mismatch", ("NIFTY", "BANKNIFTY")),
    (QUOTES, _chain(GOOD_ROW, expiry="2026-12-22"), "subject_mismatch", ("expiry", "2026-12-22")),
    (QUOTES, _chain(GOOD_ROW, product="BANKNIFTY"), "subject_mismatch", ("product", "BANKNIFTY")),
    (
        "deltastream.feed.quotes.NIFTY",
        _chain(GOOD_ROW),
        "subject_mismatch",
        ("deltastream.feed.quotes.NIFTY",),
    ),
    ("deltastream.feed.underlying.NIFTY.2026-12-29", _tick(), "subject_mismatch", ("subject",)),
    (
        subjects.feed_underlying("ZZTOP"),
        _tick(product="ZZTOP", price=5),
        "unknown_product",
        ("ZZTOP",),
    ),
    (QUOTES, _chain(GOOD_ROW, ts=NIFTY_EXPIRY_NS), "expired", ("expiry", EXPIRY)),
    (QUOTES, _chain(GOOD_ROW, ts=NIFTY_EXPIRY_NS + 10**9), "expired", ("expiry", EXPIRY)),
    (
        subjects.feed_quotes("NIFTY", "2037-06-30"),
        _chain(GOOD_ROW, expiry="2037-06-30"),
        "expiry_too_far",
        ("2037-06-30", "10.6 years", "at most 10 years"),
    ),
    (
        QUOTES,
        _chain(*[{"strike": 26000 + 50 * i, "right": "C", "bid": 1.0} for i in range(20_000)]),
        "oversized_payload",
        ("payload", str(MAX_PAYLOAD_BYTES)),
    ),
    (
        QUOTES,
        _chain(GOOD_ROW, {"strike": 26010, "right": "P"}),
        "off_grid_strike",
        ("quotes[1]", "26010"),
    ),
    (
        QUOTES,
        _chain(GOOD_ROW, {"strike": 26000.5, "right": "C"}),
        "off_grid_strike",
        ("quotes[1]",),
    ),
    (QUOTES, _chain(GOOD_ROW, {**GOOD_ROW, "bid": 1.0}), "duplicate_row", ("quotes[1]", "26000")),
    (QUOTES, _chain(GOOD_ROW, {**GOOD_ROW, "strike": 26000.0}), "duplicate_row", ("quotes[1]",)),
    (
        QUOTES,
        _chain(GOOD_ROW, {"strike": 26000, "right": "P", "bid": 9.0, "ask": 8.0}),
        "crossed_quote",
        ("quotes[1]", "bid", "ask"),
    ),
    (
        QUOTES,
        _chain({"strike": 26000, "right": "P", "bid": 9, "ask": 8}),
        "crossed_quote",
        ("quotes[0]",),
    ),
]


@pytest.mark.parametrize(("subject", "payload", "reason", "named"), REJECTIONS)
def test_each_bad_message_is_rejected_with_its_reason_and_a_detail_naming_the_field(
    subject: str, payload: bytes, reason: str, named: tuple[str, ...]
) -> None:
    exc = _rejected(subject, payload, restrict=reason == "unknown_product")
    assert (exc.reason, [n for n in named if n not in str(exc)]) == (reason, [])


def test_each_rejection_raises_the_subclass_registered_for_its_reason() -> None:
    by_reason = {
        cls.reason: cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, FeedRejected) and cls is not FeedRejected
    }
    seen = {}
    for subject, payload, reason, _ in REJECTIONS:
        exc = _rejected(subject, payload, restrict=reason == "unknown_product")
        seen[reason] = type(exc)
    assert {r: by_reason[r] for r in seen} == seen


def test_every_reason_validation_can_produce_is_covered_here() -> None:
    """too_many_chains is raised by the supervisor (the live-chain cap) and too_many_strikes
    by the chain actor (the strike cap), not by validate."""
    codes = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, FeedRejected) and cls is not FeedRejected
    }
    assert codes - {reason for _, _, reason, _ in REJECTIONS} == {
        "too_many_chains",
        "too_many_strikes",
    }


def test_an_oversized_payload_is_rejected_before_it_is_parsed() -> None:
    data = b"x" * (MAX_PAYLOAD_BYTES + 1)
    assert _rejected("not.a.feed.subject", data).reason == "oversized_payload"


def test_the_first_bad_row_is_the_one_named() -> None:
    exc = _rejected(
        QUOTES,
        _chain(GOOD_ROW, {"strike": 26010, "right": "C"}, {"strike": 26020, "right": "C"}),
    )
    assert ("quotes[1]" in str(exc), "quotes[2]" in str(exc)) == (True, False)


def test_an_underlying_tick_the_exchange_calendar_cannot_represent_is_rejected() -> None:
    far = 300 * 10**18  # epoch + 300e9 s ≈ year 11 500
    data = _tick(ts=far)
    try:
        valid = _check(UNDERLYING, data)
    except FeedRejected:
        return
    # Accepted: then applying it must not blow up a chain.
    book = ChainBook(DEFAULT_PRODUCTS["NIFTY"], dt.date(2026, 12, 29))
    book.apply_spot(valid.message.price, valid.message.ts, 1)  # type: ignore[union-attr]


# ------------------------------------------------------------------ fuzz

FEED_SUBJECTS = [
    UNDERLYING,
    QUOTES,
    CHAIN,
    subjects.feed_underlying("ACME"),
    subjects.feed_chain("ACME", "2030-01-01"),
    subjects.feed_quotes("BANKNIFTY", "0001-01-01"),
    subjects.feed_quotes("FINNIFTY", "9999-12-31"),
    "deltastream.feed.quotes.NIFTY",
    "deltastream.feed.>",
    "",
]

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["NIFTY", "ACME", "C", "P", EXPIRY, "0001-01-01", "9999-12-31"])
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_rows = st.fixed_dictionaries(
    {"strike": _json_scalars, "right": _json_scalars},
    optional={k: _json_scalars for k in ("bid", "ask", "ltp", "oi", "volume")},
)
# Near-valid objects reach the semantic checks, not just the decoder.
_feedish = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.integers(-1, 2**70) | _json_scalars,
        "product": st.sampled_from(["NIFTY", "ACME", "BANKNIFTY", "nifty"]) | _json_scalars,
        "expiry": st.sampled_from([EXPIRY, "0001-01-01", "9999-12-31", "2026-02-30"]),
        "price": _json_scalars,
        "spot": _json_scalars,
        "quotes": st.lists(_rows, max_size=5) | _json_values,
    },
)


def _validate_or_reject(subject: str, data: bytes, restrict: bool) -> None:
    try:
        _check(subject, data, restrict=restrict, max_payload_bytes=4096)
    except FeedRejected:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FEED_SUBJECTS), st.binary(max_size=256), st.booleans())
def test_arbitrary_bytes_never_raise_anything_but_feed_rejected(
    subject: str, data: bytes, restrict: bool
) -> None:
    _validate_or_reject(subject, data, restrict)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FEED_SUBJECTS), _json_values | _feedish, st.booleans())
def test_arbitrary_json_values_never_raise_anything_but_feed_rejected(
    subject: str, value: object, restrict: bool
) -> None:
    _validate_or_reject(subject, json.dumps(value).encode(), restrict)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60), st.binary(max_size=64))
def test_arbitrary_subjects_never_raise_anything_but_feed_rejected(
    subject: str, data: bytes
) -> None:
    _validate_or_reject(subject, data, False)
