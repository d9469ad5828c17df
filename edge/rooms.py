"""Socket.IO room names and the subscribe/unsubscribe payloads that name them.

Rooms: ``general``, ``product:<P>``, ``chain:<P>`` and ``chain:<P>:<YYYY-MM-DD>``. A payload
is a room name, ``{"room": name}``, or the shorthand ``{"product": P, "expiry"?: E}`` =
``product:P`` plus ``chain:P`` (or ``chain:P:E``). Anything else is ``InvalidPayload``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from edge.errors import InvalidPayload

__all__ = ["Room", "expand_request", "parse_room"]

_PRODUCT = r"[A-Z0-9][A-Z0-9_-]{0,31}"
_EXPIRY = r"\d{4}-\d{2}-\d{2}"
# Used with fullmatch: "$" would also accept a trailing newline.
_ROOM_RE = re.compile(
    rf"general|product:(?P<p1>{_PRODUCT})|chain:(?P<p2>{_PRODUCT})(?::(?P<e>{_EXPIRY}))?"
)
_PRODUCT_RE = re.compile(_PRODUCT)
_EXPIRY_RE = re.compile(_EXPIRY)


@dataclass(frozen=True, slots=True)
class Room:
    name: str
    product: str | None = None
    expiry: str | None = None


def parse_room(name: object) -> Room:
    if not isinstance(name, str) or len(name) > 80:
        raise InvalidPayload("room must be a string of at most 80 characters")
    m = _ROOM_RE.fullmatch(name)
    if m is None:
        raise InvalidPayload(
            f"unknown room {name[:80]!r}: use general, product:<P>, chain:<P> "
            "or chain:<P>:<YYYY-MM-DD>"
        )
    return Room(name, m["p1"] or m["p2"], m["e"])


class _Request(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    room: str | None = None
    product: str | None = None
    expiry: str | None = None


def expand_request(data: object) -> list[Room]:
    """The rooms a subscribe/unsubscribe payload names."""
    if isinstance(data, str):
        return [parse_room(data)]
    try:
        req = msgspec.convert(data, _Request)
    except msgspec.ValidationError as exc:
        raise InvalidPayload(f"expected {{'room': ...}} or {{'product': ...}}: {exc}") from exc
    if req.room is not None:
        if req.product is not None or req.expiry is not None:
            raise InvalidPayload("give either 'room' or 'product' (and 'expiry'), not both")
        return [parse_room(req.room)]
    if req.product is None:
        raise InvalidPayload("payload needs 'room' or 'product'")
    product = req.product.upper()
    if not _PRODUCT_RE.fullmatch(product):
        raise InvalidPayload(f"malformed product {req.product[:40]!r}")
    if req.expiry is not None and not _EXPIRY_RE.fullmatch(req.expiry):
        raise InvalidPayload("expiry must be YYYY-MM-DD")
    chain = f"chain:{product}" + (f":{req.expiry}" if req.expiry else "")
    return [parse_room(f"product:{product}"), parse_room(chain)]
