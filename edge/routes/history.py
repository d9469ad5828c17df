"""History mode of the REST routes: one page of an analytics subject, its points projected
to what the route shows, with ``next_cursor`` and ``source`` (``archive`` or ``stream``).

The points are the published messages, newest first; a projection only picks fields (no
maths). A message on the subject that is not a summary (anyone may publish there) is left
out of the page rather than failing it. Every point gets ``analytics_seq``, its ANALYTICS
stream sequence (what ``from_seq``/``to_seq`` bound; the messages' own ``seq`` counts what
their actor applied).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from starlette.responses import Response

from actors import subjects
from actors.archive.pages import HistoryRange
from edge.errors import BadRange, NotFound, UnknownExpiry, UnknownProduct, UpstreamError
from edge.history.params import HistoryQuery, encode_cursor
from edge.state import EdgeState

__all__ = [
    "AtmIvPoint",
    "MaxPainPoint",
    "PcrPoint",
    "Pick",
    "history_response",
    "latest_summary",
    "project",
    "require_history_flag",
    "resolve_expiry",
]

_encoder = msgspec.json.Encoder()

Pick = Callable[[bytes], bytes | None]  # a point's JSON from a message's, None to leave it out


class PcrPoint(msgspec.Struct, frozen=True):
    ts: int
    seq: int
    pcr_oi: float | None = None
    pcr_volume: float | None = None


class MaxPainPoint(msgspec.Struct, frozen=True):
    ts: int
    seq: int
    max_pain: float | None = None
    max_pain_distance: float | None = None
    spot: float | None = None


class AtmIvPoint(msgspec.Struct, frozen=True):
    ts: int
    seq: int
    atm_strike: float | None = None
    atm_iv: float | None = None
    forward: float | None = None
    t_years: float | None = None
    straddle: float | None = None
    expected_move: float | None = None
    expected_move_straddle: float | None = None


class _Expiry(msgspec.Struct):
    expiry: str


def require_history_flag(q: HistoryQuery, history: str) -> None:
    if q.ranged and history != "true":
        raise BadRange(
            "query.from, query.to, query.from_seq, query.to_seq and query.cursor apply only "
            "with history=true"
        )


async def resolve_expiry(st: EdgeState, product: str, expiry: str | None) -> str:
    """The asked expiry, else the nearest live one (as the actors' summary service picks it)."""
    if expiry is not None:
        return expiry
    try:
        return msgspec.json.decode(await st.snapshots.summary(product, None), type=_Expiry).expiry
    except msgspec.DecodeError as exc:
        raise UpstreamError("the actor service sent a malformed summary") from exc


async def latest_summary(st: EdgeState, product: str, expiry: str | None) -> bytes:
    """The live summary; for an expiry the actors no longer hold, the newest one in history."""
    try:
        return await st.snapshots.summary(product, expiry)
    except NotFound:
        if expiry is None:
            raise
        page, _ = await st.history.page(
            HistoryRange(subjects.analytics_summary(product, expiry), limit=1)
        )
        if not page.items:
            raise
        return page.items[0].payload


def project(kind: type[msgspec.Struct]) -> Pick:
    decoder = msgspec.json.Decoder(kind)

    def pick(raw: bytes) -> bytes | None:
        try:
            return _encoder.encode(decoder.decode(raw))
        except msgspec.DecodeError:
            return None

    return pick


def _with_analytics_seq(point: bytes, seq: int) -> bytes:
    """``point`` (a JSON object) with ``"analytics_seq": seq`` as its last member."""
    head = point.rstrip()[:-1].rstrip()
    return head + (b"" if head.endswith(b"{") else b",") + b'"analytics_seq":%d}' % seq


async def _require_known(st: EdgeState, product: str, expiry: str | None) -> None:
    live = (await st.snapshots.product_map()).get(product)
    if live is None:
        raise UnknownProduct(f"unknown product {product!r}: not live and no history in range")
    if expiry is not None and expiry not in live:
        raise UnknownExpiry(f"no live {product} {expiry} chain and no history in range")


async def history_response(
    st: EdgeState,
    q: HistoryQuery,
    *,
    subject: str,
    head: Mapping[str, Any],
    items_key: str = "history",
    pick: Pick | None = None,
    product: str,
    expiry: str | None = None,
) -> Response:
    """``{**head, items_key: [...], "next_cursor", "source"}`` for one page of ``subject``;
    404 when the page is empty and neither the product nor the expiry is known at all."""
    page, source = await st.history.page(q.range(subject))
    if not page.items and q.before is None:
        await _require_known(st, product, expiry)
    items = [
        _with_analytics_seq(p, i.seq)
        for i in page.items
        if (p := i.payload if pick is None else pick(i.payload)) is not None
    ]
    cursor = encode_cursor(page.next) if page.next is not None else None
    body = (
        _encoder.encode(dict(head))[:-1]
        + (b"," if head else b"")
        + b'"' + items_key.encode() + b'":[' + b",".join(items) + b"]"
        + b',"next_cursor":' + _encoder.encode(cursor)
        + b',"source":' + _encoder.encode(source) + b"}"
    )  # fmt: skip
    return Response(body, media_type="application/json")
