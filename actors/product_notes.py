"""Chains → their product actor in another partition, when FEED is partitioned by chain.

A chain tells its product actor its smile (for the surface) and its OI/volume totals (for
the product-wide PCR). Keyed by chain, a product's chains run in several partitions, perhaps
on several hosts, and its product actor only in the product's home partition. A chain
outside the home gets a ``RemoteProduct`` in place of the actor's ref: its ``tell`` publishes
the note on core NATS (``subjects.product_note``), and the home partition's worker hands it
to its product actor (``deliver``).

These notes are soft state, like the tells they stand for: the product actor keeps each
expiry's latest and snapshots neither. A core message can be lost (a reconnect, a hand-over
of the home partition), so every ``RemoteProduct`` repeats each chain's latest notes every
few seconds (``repeat``, from the worker's timer): a product actor started elsewhere has
every expiry back within that period.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors import subjects
from actors.commands import ChainTotals, SmileUpdate
from actors.messages import SmileSlice

__all__ = ["ProductNote", "RemoteProduct", "decode_note", "deliver", "loop_sender", "note_command"]


class ProductNote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One tell on the wire: exactly one of ``smile`` and ``totals``."""

    product: str
    smile: SmileSlice | None = None
    totals: ChainTotals | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ProductNote)

Send = Callable[[str, bytes], None]


def decode_note(data: bytes) -> ProductNote:
    """Raises ``msgspec.DecodeError`` / ``ValidationError`` on a malformed note."""
    note = _decoder.decode(data)
    if (note.smile is None) == (note.totals is None):
        raise msgspec.ValidationError("a note carries exactly one of smile and totals")
    return note


def note_command(note: ProductNote) -> SmileUpdate | ChainTotals:
    """The product actor's message for a note."""
    if note.smile is not None:
        return SmileUpdate(smile=note.smile)
    assert note.totals is not None
    return note.totals


class RemoteProduct:
    """Stands in for a product actor's ref in a chain actor (only ``tell`` is used).

    ``send(subject, payload)`` must be callable from any thread; the worker passes one that
    hands the publish to the event loop.
    """

    def __init__(self, product: str, send: Send) -> None:
        self.product = product
        self.subject = subjects.product_note(product)
        self._send = send
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str], bytes] = {}  # (expiry, kind) → its last note
        self.sent = 0

    def tell(self, message: Any) -> None:
        """Any thread: publish a chain's ``SmileUpdate`` or ``ChainTotals``."""
        if isinstance(message, SmileUpdate):
            key = (message.smile.expiry, "smile")
            note = ProductNote(product=self.product, smile=message.smile)
        elif isinstance(message, ChainTotals):
            key = (message.expiry, "totals")
            note = ProductNote(product=self.product, totals=message)
        else:
            raise TypeError(f"a remote product takes no {type(message).__name__}")
        payload = _encoder.encode(note)
        with self._lock:
            self._latest[key] = payload
            self.sent += 1
        self._send(self.subject, payload)

    def repeat(self) -> int:
        """Send every chain's latest notes again; the number sent."""
        with self._lock:
            payloads = list(self._latest.values())
        for payload in payloads:
            self._send(self.subject, payload)
        return len(payloads)


def loop_sender(nc: Any, loop: asyncio.AbstractEventLoop, gate: Callable[[], bool]) -> Send:
    """A thread-safe ``send`` over core NATS on ``loop``; nothing goes out while ``gate``
    (the partition's lease) is closed: ``repeat`` sends the latest notes once it opens."""

    pending: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly

    def publish(subject: str, payload: bytes) -> None:
        if gate() and nc.is_connected:
            task = loop.create_task(nc.publish(subject, payload))
            pending.add(task)
            task.add_done_callback(pending.discard)

    def send(subject: str, payload: bytes) -> None:
        loop.call_soon_threadsafe(publish, subject, payload)

    return send


def deliver(ref: pykka.ActorRef[Any], note: ProductNote) -> None:
    """Hand a note to the product actor (it only aggregates: a dead actor drops it)."""
    try:
        ref.tell(note_command(note))
    except pykka.ActorDeadError:
        pass
