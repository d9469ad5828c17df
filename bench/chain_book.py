"""One chain's per-message cost, in process, no NATS and no threads: what a quotes message
costs the ingress (``validate``) and its chain actor (``apply_quotes``, ``recompute``,
``summary``), each timed on its own.

Run from the repository root: ``python bench/chain_book.py [--steps 400] [--rows 100]``.
The synthetic market (NIFTY, 4 weekly + 1 monthly expiries of 101 strikes) runs ``--steps``
steps; every message is validated and applied to its ``ChainBook`` in order, and each
quotes message is followed by its own recompute and summary, as at a low feed rate where
nothing coalesces (under a backlog one recompute covers many messages). The first quarter of
the steps is a warm-up. Prints the median and p90 of each stage in µs per quotes message.
"""

from __future__ import annotations

import argparse
import statistics
import time

import msgspec

from actors.chain_book import ChainBook
from actors.feeds.market import SyntheticMarket
from actors.messages import ChainFeed
from actors.products import DEFAULT_PRODUCTS
from actors.validation import validate

START_NS = 1_796_000_000_000_000_000  # a Monday in December 2026, 10:13 IST
STEP_NS = 250_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--rows", type=int, default=100, help="quote rows per message")
    args = ap.parse_args()
    spec = DEFAULT_PRODUCTS["NIFTY"]
    market = SyntheticMarket(
        [spec], seed=3, start_ns=START_NS, rows_per_batch=args.rows // 2, weekly=4, monthly=1
    )
    messages = list(market.open())
    for i in range(1, args.steps + 1):
        messages += market.step(START_NS + i * STEP_NS)
    wire = [(m.subject, msgspec.json.encode(m.payload)) for m in messages]
    warm = len(wire) // 4
    books: dict[object, ChainBook] = {}
    stages: dict[str, list[float]] = {"validate": [], "apply": [], "recompute": [], "summary": []}
    clock = time.perf_counter
    for seq, (subject, data) in enumerate(wire, 1):
        t0 = clock()
        valid = validate(
            subject,
            data,
            products=DEFAULT_PRODUCTS,
            restrict_products=False,
            max_payload_bytes=1 << 20,
        )
        t1 = clock()
        msg = valid.message
        if not isinstance(msg, ChainFeed):
            for book in books.values():
                book.apply_spot(msg.price, msg.ts, seq)
                book.recompute()
            continue
        book = books.get(msg.expiry) or books.setdefault(msg.expiry, ChainBook(spec, msg.expiry))
        quotes = valid.subject.kind == "quotes"
        if quotes:
            book.apply_quotes(msg, seq)
        else:
            book.apply_chain(msg, seq)
        t2 = clock()
        book.recompute()
        t3 = clock()
        book.summary(published_ns=0)
        t4 = clock()
        if quotes and seq > warm:
            for name, took in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[name].append(took * 1e6)
    n = len(stages["validate"])
    print(f"{n} quotes messages of {args.rows} rows (after {warm} warm-up messages), µs each:")
    total = 0.0
    for name, took in stages.items():
        median = statistics.median(took)
        total += median
        p90 = statistics.quantiles(took, n=10)[-1]
        print(f"  {name:<10} median {median:7.1f}   p90 {p90:7.1f}")
    print(f"  {'sum':<10} median {total:7.1f}")


if __name__ == "__main__":
    main()
