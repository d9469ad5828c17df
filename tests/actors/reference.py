"""An independent, deliberately plain model of what a chain should contain after a list of
feed messages: dict merges, no numpy state, no actors. Tests compare the pipeline with it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from actors.feeds.market import FeedMessage

FIELDS = ("bid", "ask", "ltp", "oi", "volume")


@dataclass
class ReferenceChain:
    rows: dict[tuple[float, str], dict[str, Any]] = field(default_factory=dict)
    first_oi: dict[tuple[float, str], int] = field(default_factory=dict)
    first_ltp: dict[tuple[float, str], float | None] = field(default_factory=dict)
    # (ts, spot, mids) as they were when the forward was last fixed
    pricing: tuple[int, float | None, dict[tuple[float, str], float]] | None = None
    spot: float | None = None
    last_ts: int = 0

    def mids(self, *, last_trade: bool = True) -> dict[tuple[float, str], float]:
        """Two-sided mids; where there is none, the last trade (or NaN without it)."""
        out = {}
        for key, r in self.rows.items():
            bid, ask, ltp = r.get("bid"), r.get("ask"), r.get("ltp")
            if bid and ask and bid > 0 and ask > 0 and ask >= bid:
                out[key] = 0.5 * bid + 0.5 * ask
            elif ltp is not None and last_trade:
                out[key] = ltp
            else:
                out[key] = math.nan
        return out

    def strikes(self) -> list[float]:
        return sorted({k for k, _ in self.rows})

    def column(self, right: str, name: str) -> list[Any]:
        return [self.rows.get((k, right), {}).get(name) for k in self.strikes()]


def replay(messages: list[FeedMessage], product: str, expiry: str) -> ReferenceChain:
    ref = ReferenceChain()
    for m in messages:
        p = m.payload
        kind = m.subject.split(".")[2]
        if p.get("product") != product:
            continue
        if kind == "underlying":
            ref.last_ts = max(ref.last_ts, p["ts"])
            ref.spot = p["price"]
            ref.pricing = (ref.last_ts, ref.spot, ref.mids(last_trade=False))
            continue
        if p.get("expiry") != expiry:
            continue
        ref.last_ts = max(ref.last_ts, p["ts"])
        if kind == "chain":
            ref.rows = {}
        for q in p["quotes"]:
            key = (float(q["strike"]), q["right"])
            row = ref.rows.setdefault(key, {})
            for f in FIELDS:
                if f in q or kind == "chain":
                    row[f] = q.get(f)
            if key not in ref.first_oi and ("oi" in q or kind == "chain"):
                ref.first_oi[key] = q.get("oi") or 0
            if ref.first_ltp.get(key) is None:
                ref.first_ltp[key] = row.get("ltp")
        if p.get("spot") is not None:
            ref.spot = p["spot"]
        if kind == "chain" or p.get("spot") is not None:
            ref.pricing = (ref.last_ts, ref.spot, ref.mids(last_trade=False))
    return ref
