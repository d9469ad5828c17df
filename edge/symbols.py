"""Exchange-style option symbols (NSE convention), parsed into product, expiry and strike.

Forms::

    monthly  <PRODUCT><YY><MON><STRIKE><CE|PE>       NIFTY26DEC24000CE
    weekly   <PRODUCT><YY><M><DD><STRIKE><CE|PE>     NIFTY26D0124000PE   (2026-12-01)

``MON`` is JAN…DEC; the weekly month code ``M`` is 1-9 for January-September and O, N, D
for October-December. A monthly symbol means the product's monthly contract: the last live
expiry in that month. Parsing is syntax only; whether the product, expiry and strike exist
is for the caller to check against the live chains.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from edge.errors import InvalidSymbol

__all__ = ["MAX_SYMBOL_CHARS", "OptionSymbol", "parse_symbol"]

MAX_SYMBOL_CHARS = 64
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH = {**{str(i): i for i in range(1, 10)}, "O": 10, "N": 11, "D": 12}
_STRIKE = r"(?P<strike>\d{1,9}(?:\.\d{1,4})?)"
_MONTHLY_REST = re.compile(rf"^(?P<yy>\d{{2}})(?P<mon>{'|'.join(_MONTHS)}){_STRIKE}$")
_WEEKLY_REST = re.compile(rf"^(?P<yy>\d{{2}})(?P<m>[1-9OND])(?P<dd>\d{{2}}){_STRIKE}$")
_GENERIC = re.compile(
    rf"^(?P<product>[A-Z][A-Z0-9_-]*?)(?P<rest>\d{{2}}(?:{'|'.join(_MONTHS)}|[1-9OND]\d{{2}})"
    r"\d[\d.]*)$"
)
_CENTURY = 2000


@dataclass(frozen=True, slots=True)
class OptionSymbol:
    product: str
    year: int
    month: int
    day: int | None  # None: the monthly contract of (year, month)
    strike: float
    right: str  # "C" or "P"

    @property
    def is_monthly(self) -> bool:
        return self.day is None


def parse_symbol(symbol: str, known_products: Iterable[str] = ()) -> OptionSymbol:
    """Parse ``symbol``; known products are tried first (longest first), which settles
    names that end in digits. Raises ``InvalidSymbol`` naming what is wrong."""
    s = symbol.strip().upper()
    if not s or len(s) > MAX_SYMBOL_CHARS:
        raise InvalidSymbol(f"symbol must be 1 to {MAX_SYMBOL_CHARS} characters")
    if s[-2:] not in ("CE", "PE"):
        raise InvalidSymbol("symbol must end with CE (call) or PE (put)")
    right = "C" if s.endswith("CE") else "P"
    body = s[:-2]
    for product in sorted(known_products, key=len, reverse=True):
        if body.startswith(product):
            parsed = _parse_rest(product, body[len(product) :], right)
            if parsed is not None:
                return parsed
    m = _GENERIC.match(body)
    if m is None:
        raise InvalidSymbol(
            "expected <PRODUCT><YY><MON><STRIKE><CE|PE> (e.g. NIFTY26DEC24000CE) or "
            "<PRODUCT><YY><M><DD><STRIKE><CE|PE> (e.g. NIFTY26D0124000PE)"
        )
    parsed = _parse_rest(m["product"], m["rest"], right)
    if parsed is None:
        raise InvalidSymbol("the strike after the expiry code is malformed")
    return parsed


def _parse_rest(product: str, rest: str, right: str) -> OptionSymbol | None:
    if m := _MONTHLY_REST.match(rest):
        year, month, day = _CENTURY + int(m["yy"]), _MONTHS.index(m["mon"]) + 1, None
    elif m := _WEEKLY_REST.match(rest):
        year, month, day = _CENTURY + int(m["yy"]), _WEEKLY_MONTH[m["m"]], int(m["dd"])
        try:
            dt.date(year, month, day)
        except ValueError as exc:
            raise InvalidSymbol(f"no such date: {year}-{month:02d}-{day:02d}") from exc
    else:
        return None
    strike = float(m["strike"])
    if strike <= 0:
        raise InvalidSymbol("strike must be positive")
    return OptionSymbol(product, year, month, day, strike, right)
