"""OI build-up per strike and per chain side."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from actors.analytics.buildup import BuildUp, buildup, buildup_counts, chain_buildup


def test_mismatched_shapes_raise_value_error() -> None:
    with pytest.raises(ValueError):
        buildup(np.ones(2), np.ones(3))


@pytest.mark.parametrize(
    ("price_change", "oi_change", "expected"),
    [
        (1.0, 10.0, BuildUp.LONG_BUILDUP),
        (-1.0, 10.0, BuildUp.SHORT_BUILDUP),
        (1.0, -10.0, BuildUp.SHORT_COVERING),
        (-1.0, -10.0, BuildUp.LONG_UNWINDING),
        (0.0, 10.0, BuildUp.NEUTRAL),
        (1.0, 0.0, BuildUp.NEUTRAL),
        (0.0, 0.0, BuildUp.NEUTRAL),
        (math.nan, 10.0, BuildUp.NEUTRAL),
        (1.0, math.nan, BuildUp.NEUTRAL),
        (math.inf, 10.0, BuildUp.NEUTRAL),
    ],
)
def test_buildup_follows_the_classification_table(
    price_change: float, oi_change: float, expected: BuildUp
) -> None:
    codes = buildup(np.array([price_change]), np.array([oi_change]))
    assert codes.dtype == np.int8
    assert codes.tolist() == [expected]


@settings(max_examples=100, deadline=None)
@given(
    changes=arrays(np.float64, (2, 50), elements=st.floats(-1e6, 1e6) | st.just(0.0)),
)
def test_buildup_code_is_determined_by_the_two_signs(changes: np.ndarray) -> None:
    dp, doi = changes
    codes = buildup(dp, doi)
    table = {(1, 1): 1, (-1, 1): 2, (1, -1): 3, (-1, -1): 4}
    expected = [
        table.get((int(np.sign(p)), int(np.sign(o))), 0) for p, o in zip(dp, doi, strict=True)
    ]
    assert codes.tolist() == expected


def test_buildup_labels_are_snake_case_names() -> None:
    assert [b.label for b in BuildUp] == [
        "neutral",
        "long_buildup",
        "short_buildup",
        "short_covering",
        "long_unwinding",
    ]


@settings(max_examples=100, deadline=None)
@given(codes=arrays(np.int8, st.integers(0, 60), elements=st.integers(0, 4)))
def test_buildup_counts_cover_every_label_and_add_up(codes: np.ndarray) -> None:
    counts = buildup_counts(codes)
    assert list(counts) == [b.label for b in BuildUp]
    assert sum(counts.values()) == codes.size
    assert counts["short_buildup"] == int(np.sum(codes == BuildUp.SHORT_BUILDUP))


@pytest.mark.parametrize("codes", [np.array([5]), np.array([-1]), np.array([1.0])])
def test_buildup_counts_reject_unknown_codes(codes: np.ndarray) -> None:
    with pytest.raises(ValueError):
        buildup_counts(codes)


def test_chain_buildup_lets_strikes_vote_with_their_oi_change() -> None:
    # A big OI rise where prices fell outweighs a small one where prices rose.
    dp = np.array([2.0, -1.0, -0.5])
    doi = np.array([10.0, 500.0, 100.0])
    assert chain_buildup(dp, doi) is BuildUp.SHORT_BUILDUP
    assert chain_buildup(-dp, -doi) is BuildUp.SHORT_COVERING
    assert chain_buildup(dp, -doi) is BuildUp.LONG_UNWINDING


def test_chain_buildup_is_neutral_without_net_change() -> None:
    assert chain_buildup(np.array([1.0, 1.0]), np.array([5.0, -5.0])) is BuildUp.NEUTRAL
    assert chain_buildup(np.array([]), np.array([])) is BuildUp.NEUTRAL
    assert chain_buildup(np.array([np.nan]), np.array([np.inf])) is BuildUp.NEUTRAL
