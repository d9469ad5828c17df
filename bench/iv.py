"""Implied vol + greeks: throughput on 1M options and latency of one 402-option chain.

Measures ``actors.analytics.black76`` (implied_vol then greeks) beside py_vollib_vectorized
(vectorized_implied_volatility_black then get_all_greeks(model="black")) in the same run, on
the same seeded inputs, and prints both libraries' worst |σ̂ − σ| where the time value is at
least ``MIN_TIME_VALUE_REL``·F. Run from the repository root:

    python bench/iv.py

py_vollib_vectorized 0.1.1 jit-compiles py_lets_be_rational's functions in nopython mode, but
py_lets_be_rational 1.1.2 only jits when PY_LETS_BE_RATIONAL_ENABLE_NUMBA is set and imports
its error functions and rational cubics from cody_special / piecewise_rational, which are
plain Python. As installed it therefore fails to compile. ``_enable_py_vollib_numba`` sets the
variable and jit-compiles those plain-Python helpers in place (in this process only), which is
the configuration py_vollib_vectorized was written for.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_OPTIONS = 1_000_000
SEED = 20261125
THROUGHPUT_REPEATS = 5
CHAIN_REPEATS = 3000
CHAIN_STRIKES = 201
CHAIN_FORWARD = 24_000.0
CHAIN_STRIKE_STEP = 50.0  # NIFTY's step: the far wings fall below the time-value floor
DENSE_STRIKE_STEP = 20.0  # a ±8 % chain in which all 402 options are solved
CHAIN_T_YEARS = 7 / 365
RATE = 0.065


def _enable_py_vollib_numba() -> types.ModuleType:
    os.environ.setdefault("PY_LETS_BE_RATIONAL_ENABLE_NUMBA", "1")
    import numba
    import py_vollib_vectorized

    helper_modules = (
        "cody_special.erf_cody",
        "cody_special.normaldistribution",
        "piecewise_rational.rationalcubic",
    )
    jitted: dict[int, object] = {}
    for name in helper_modules:
        module = sys.modules[name]
        for obj in list(vars(module).values()):
            if isinstance(obj, types.FunctionType) and obj.__module__ == name:
                jitted[id(obj)] = numba.njit(obj)
    # Rebind every imported alias (e.g. lets_be_rational.erfcx_cody) before the first call.
    packages = ("cody_special", "piecewise_rational", "py_lets_be_rational", "py_vollib_vectorized")
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in packages and isinstance(module, types.ModuleType):
            for attr, obj in list(vars(module).items()):
                if id(obj) in jitted:
                    setattr(module, attr, jitted[id(obj)])
    return py_vollib_vectorized


def random_book(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    forward = np.full(n, 100.0)
    return {
        "forward": forward,
        "strike": forward * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n)),
        "t_years": rng.uniform(1 / 365, 3.0, n),
        "rate": np.full(n, RATE),
        "vol": rng.uniform(0.01, 3.0, n),
        "is_call": rng.random(n) < 0.5,
    }


def chain_book(step: float) -> dict[str, np.ndarray]:
    offsets = (np.arange(CHAIN_STRIKES) - CHAIN_STRIKES // 2) * step
    strikes = CHAIN_FORWARD + offsets
    log_moneyness = np.log(strikes / CHAIN_FORWARD)
    smile = 0.14 - 0.25 * log_moneyness + 1.5 * log_moneyness**2
    return {
        "forward": np.full(2 * CHAIN_STRIKES, CHAIN_FORWARD),
        "strike": np.concatenate([strikes, strikes]),
        "t_years": np.full(2 * CHAIN_STRIKES, CHAIN_T_YEARS),
        "rate": np.full(2 * CHAIN_STRIKES, RATE),
        "vol": np.concatenate([smile, smile]),
        "is_call": np.repeat([True, False], CHAIN_STRIKES),
    }


def ours(black76: types.ModuleType) -> Callable[[dict, np.ndarray], np.ndarray]:
    def run(book: dict, prices: np.ndarray) -> np.ndarray:
        iv = black76.implied_vol(
            prices,
            forward=book["forward"],
            strike=book["strike"],
            t_years=book["t_years"],
            rate=book["rate"],
            is_call=book["is_call"],
        )
        black76.greeks(
            book["forward"],
            strike=book["strike"],
            t_years=book["t_years"],
            rate=book["rate"],
            vol=iv,
            is_call=book["is_call"],
        )
        return iv

    return run


def theirs(pvv: types.ModuleType) -> Callable[[dict, np.ndarray], np.ndarray]:
    def run(book: dict, prices: np.ndarray) -> np.ndarray:
        flag = np.where(book["is_call"], "c", "p")
        # Argument order differs on purpose: IV takes (price, F, K, r, t, flag) ...
        iv = pvv.vectorized_implied_volatility_black(
            prices,
            book["forward"],
            book["strike"],
            book["rate"],
            book["t_years"],
            flag,
            on_error="ignore",
            return_as="numpy",
        )
        # ... and the greeks take (flag, F, K, t, r, sigma).
        pvv.get_all_greeks(
            flag,
            book["forward"],
            book["strike"],
            book["t_years"],
            book["rate"],
            iv,
            model="black",
            return_as="dict",
        )
        return iv

    return run


def throughput(run: Callable, book: dict, prices: np.ndarray) -> tuple[float, np.ndarray]:
    times = []
    for _ in range(THROUGHPUT_REPEATS):
        start = time.perf_counter()
        iv = run(book, prices)
        times.append(time.perf_counter() - start)
    return len(prices) / statistics.median(times), iv


def latency_us(run: Callable, book: dict, prices: np.ndarray) -> tuple[float, float]:
    times = np.empty(CHAIN_REPEATS)
    for i in range(CHAIN_REPEATS):
        start = time.perf_counter()
        run(book, prices)
        times[i] = time.perf_counter() - start
    return float(np.median(times) * 1e6), float(np.percentile(times, 99) * 1e6)


def worst_error(iv: np.ndarray, book: dict, informative: np.ndarray) -> tuple[float, int]:
    error = np.abs(iv - book["vol"])[informative]
    return float(np.nanmax(error)), int(np.isnan(error).sum())


def main() -> None:
    start = time.perf_counter()
    from actors.analytics import black76

    import_s = time.perf_counter() - start
    pvv = _enable_py_vollib_numba()

    book = random_book(N_OPTIONS, np.random.default_rng(SEED))
    prices = black76.price(**book)
    disc = np.exp(-book["rate"] * book["t_years"])
    sign = np.where(book["is_call"], 1.0, -1.0)
    intrinsic = np.maximum(sign * (book["forward"] - book["strike"]), 0.0)
    informative = prices / disc - intrinsic >= black76.MIN_TIME_VALUE_REL * book["forward"]
    chains = {}
    for step in (CHAIN_STRIKE_STEP, DENSE_STRIKE_STEP):
        chain = chain_book(step)
        chain_prices = black76.price(**chain)
        market = {k: v for k, v in chain.items() if k != "vol"}
        solved = int(np.isfinite(black76.implied_vol(chain_prices, **market)).sum())
        chains[step] = (chain, chain_prices, solved)

    runners = {"deltastream black76": ours(black76), "py_vollib_vectorized": theirs(pvv)}
    for run in runners.values():  # warm-up: py_vollib_vectorized jit-compiles on first call
        run(*chains[CHAIN_STRIKE_STEP][:2])

    print(f"black76 import (kernels compiled or loaded from cache): {import_s * 1e3:.0f} ms")
    print(
        f"{N_OPTIONS:,} random options: K/F 0.5-2, T 1d-3y, vol 1-300 %, r {RATE}; "
        f"{int(informative.sum()):,} with time value >= {black76.MIN_TIME_VALUE_REL}*F"
    )
    for step, (_, _, solved) in chains.items():
        print(
            f"chain{step:.0f}: {2 * CHAIN_STRIKES} options ({CHAIN_STRIKES} strikes x C/P, "
            f"step {step:.0f}), F {CHAIN_FORWARD:.0f}, T {CHAIN_T_YEARS * 365:.0f} days, "
            f"smile 14 % ATM; {solved} above the time-value floor (the rest are NaN)"
        )
    print()
    print(
        f"{'library':<22} {'IV+greeks opt/s':>16} {'chain50 med/p99 us':>19} "
        f"{'chain20 med/p99 us':>19} {'max |dvol|':>11} {'NaN in domain':>14}"
    )
    results = {}
    for name, run in runners.items():
        rate, iv = throughput(run, book, prices)
        latencies = [latency_us(run, c, p) for c, p, _ in chains.values()]
        error, nans = worst_error(iv, book, informative)
        results[name] = (rate, *(median for median, _ in latencies))
        cells = [f"{median:.1f} / {p99:.1f}" for median, p99 in latencies]
        print(f"{name:<22} {rate:>16,.0f} {cells[0]:>19} {cells[1]:>19} {error:>11.2e} {nans:>14,}")
    (our_rate, our_us, our_dense_us), (their_rate, their_us, their_dense_us) = results.values()
    print()
    print(
        f"throughput ratio (ours / py_vollib_vectorized): {our_rate / their_rate:.2f}x "
        f"(target >= 3x)"
    )
    print(
        f"chain latency, median: ours {our_us:.1f} us (chain50), {our_dense_us:.1f} us "
        f"(chain20), target <= 150 us; py_vollib_vectorized takes "
        f"{their_us / our_us:.1f}x / {their_dense_us / our_dense_us:.1f}x as long"
    )


if __name__ == "__main__":
    main()
