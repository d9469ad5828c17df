"""Subject builders and the feed-subject parser agree; malformed subjects parse to None."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors import subjects
from actors.subjects import FeedSubject, parse_feed_subject

products = st.from_regex(r"\A[A-Z0-9][A-Z0-9_-]{0,31}\Z")
expiries = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)


@settings(max_examples=200, deadline=None)
@given(products)
def test_an_underlying_subject_parses_back_to_its_product(product: str) -> None:
    assert parse_feed_subject(subjects.feed_underlying(product)) == FeedSubject(
        "underlying", product, None
    )


@settings(max_examples=200, deadline=None)
@given(products, expiries)
def test_a_chain_subject_parses_back_to_its_product_and_expiry(product: str, exp: str) -> None:
    assert parse_feed_subject(subjects.feed_chain(product, exp)) == FeedSubject(
        "chain", product, exp
    )


@settings(max_examples=200, deadline=None)
@given(products, expiries)
def test_a_quotes_subject_parses_back_to_its_product_and_expiry(product: str, exp: str) -> None:
    assert parse_feed_subject(subjects.feed_quotes(product, exp)) == FeedSubject(
        "quotes", product, exp
    )


def test_every_feed_subject_falls_under_the_feed_stream_wildcard() -> None:
    built = [
        subjects.feed_underlying("NIFTY"),
        subjects.feed_chain("NIFTY", "2026-12-29"),
        subjects.feed_quotes("NIFTY", "2026-12-29"),
    ]
    assert [s.split(".")[:2] for s in built] == [[subjects.PREFIX, "feed"]] * 3


MALFORMED = [
    "",
    "deltastream",
    "deltastream.feed",
    "deltastream.feed.underlying",
    "deltastream.feed.underlying.",
    "deltastream.feed.underlying.*",
    "deltastream.feed.underlying.>",
    "deltastream.feed.*.NIFTY",
    "deltastream.feed.>",
    "deltastream.feed.chain.NIFTY.*",
    "deltastream.feed.quotes.*.2026-12-29",
    "deltastream.feed.quotes.NIFTY.>",
    "deltastream.feed.underlying.nifty",
    "deltastream.feed.underlying.Nifty",
    "deltastream.feed.chain.nifty.2026-12-29",
    "deltastream.feed.underlying.NIFTÝ",
    "deltastream.feed.underlying.ＮＩＦＴＹ",  # full-width letters
    "deltastream.feed.underlying.NIF TY",
    "deltastream.feed.underlying._NIFTY",
    "deltastream.feed.underlying.-NIFTY",
    "deltastream.feed.underlying." + "N" * 33,
    "deltastream.feed.underlying.NIFTY.2026-12-29",
    "deltastream.feed.underlying.NIFTY.extra",
    "deltastream.feed.chain.NIFTY",
    "deltastream.feed.quotes.NIFTY",
    "deltastream.feed.chain.NIFTY.2026-12-29.extra",
    "deltastream.feed.quotes.NIFTY.2026-12-29.2026-12-29",
    "deltastream.feed.chain.NIFTY.20261229",
    "deltastream.feed.chain.NIFTY.2026-1-29",
    "deltastream.feed.chain.NIFTY.26-12-29",
    "deltastream.feed.chain.NIFTY.",
    "deltastream.feed.ticks.NIFTY",
    "deltastream.feed.ticks.NIFTY.2026-12-29",
    "deltastream.feed.Chain.NIFTY.2026-12-29",
    "deltastream.analytics.summary.NIFTY.2026-12-29",
    "deltastream.dlq.feed.quotes.NIFTY.2026-12-29",
    "Deltastream.feed.underlying.NIFTY",
    "other.feed.underlying.NIFTY",
    ".deltastream.feed.underlying.NIFTY",
    "deltastream..feed.underlying.NIFTY",
    "deltastream.feed..underlying.NIFTY",
]


@pytest.mark.parametrize("subject", MALFORMED)
def test_a_malformed_feed_subject_parses_to_none(subject: str) -> None:
    assert parse_feed_subject(subject) is None


BUG_REGEX = (
    "subjects.py _PRODUCT_RE/_EXPIRY_RE use `$` (also matches before a trailing newline) "
    "and `\\d` (matches any Unicode digit) and accept impossible dates: a product or "
    "expiry token that is not the documented ASCII `^[A-Z0-9][A-Z0-9_-]{0,31}$` / ISO "
    "YYYY-MM-DD date parses as a feed subject"
)


@pytest.mark.parametrize(
    "subject",
    [
        "deltastream.feed.underlying.NIFTY\n",
        "deltastream.feed.chain.NIFTY.2026-12-29\n",
        "deltastream.feed.chain.NIFTY.٢٠٢٦-١٢-٢٩",  # Arabic-Indic digits
        "deltastream.feed.quotes.NIFTY.२०२६-१२-२९",  # Devanagari digits
        "deltastream.feed.quotes.NIFTY.2026-13-45",
    ],
)
def test_a_subject_with_a_non_ascii_or_impossible_token_parses_to_none(subject: str) -> None:
    assert parse_feed_subject(subject) is None


_tokens = st.sampled_from(
    ["deltastream", "feed", "underlying", "chain", "quotes", "NIFTY", "2026-12-29", "*", ">", ""]
) | st.text(max_size=6)
_token_subjects = st.lists(_tokens, min_size=1, max_size=7).map(".".join)


@settings(max_examples=300, deadline=None)
@given(_token_subjects | st.text(max_size=60))
def test_whatever_parses_rebuilds_to_the_same_subject(subject: str) -> None:
    parsed = parse_feed_subject(subject)
    if parsed is None:
        return
    if parsed.kind == "underlying":
        rebuilt = subjects.feed_underlying(parsed.product)
    else:
        assert parsed.expiry is not None
        rebuilt = getattr(subjects, f"feed_{parsed.kind}")(parsed.product, parsed.expiry)
    assert rebuilt == subject


@pytest.mark.parametrize(
    ("original", "dead"),
    [
        (
            "deltastream.feed.quotes.NIFTY.2026-12-29",
            "deltastream.dlq.feed.quotes.NIFTY.2026-12-29",
        ),
        ("deltastream.feed.chain.NIFTY.2026-12-29", "deltastream.dlq.feed.chain.NIFTY.2026-12-29"),
        ("deltastream.feed.underlying.NIFTY", "deltastream.dlq.feed.underlying.NIFTY"),
        ("deltastream.invalid", "deltastream.dlq.invalid"),
    ],
)
def test_a_dead_letter_subject_mirrors_the_original_without_its_prefix(
    original: str, dead: str
) -> None:
    assert subjects.dlq(original) == dead


@settings(max_examples=100, deadline=None)
@given(products, expiries, st.sampled_from(["chain", "quotes"]))
def test_every_dead_letter_of_a_feed_subject_falls_under_the_dlq_stream(
    product: str, exp: str, kind: str
) -> None:
    dead = subjects.dlq(getattr(subjects, f"feed_{kind}")(product, exp))
    assert dead.split(".") == [subjects.PREFIX, "dlq", "feed", kind, product, exp]


def test_analytics_and_service_subjects_have_the_documented_shape() -> None:
    assert [
        subjects.analytics_underlying("NIFTY"),
        subjects.analytics_summary("NIFTY", "2026-12-29"),
        subjects.analytics_chain("NIFTY", "2026-12-29"),
        subjects.analytics_surface("NIFTY"),
        subjects.analytics_ohlc("NIFTY", "5m"),
        subjects.service_subject("summary"),
        subjects.max_deliveries_advisory("FEED", "ingress"),
        subjects.chain_key("NIFTY", "2026-12-29"),
    ] == [
        "deltastream.analytics.underlying.NIFTY",
        "deltastream.analytics.summary.NIFTY.2026-12-29",
        "deltastream.analytics.chain.NIFTY.2026-12-29",
        "deltastream.analytics.surface.NIFTY",
        "deltastream.analytics.ohlc.NIFTY.5m",
        "deltastream.svc.summary",
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.FEED.ingress",
        "chain.NIFTY.2026-12-29",
    ]
