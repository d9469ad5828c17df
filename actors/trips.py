"""One batch's commands per actor, each actor's share asked as one ``ApplyBatch`` (a trip):
one wake-up of the actor's thread and one reply instead of one per message, while every
message still learns its own outcome. The ingress fills the trips in stream order, which the
actors' inboxes keep.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pykka

from actors.commands import ApplyBatch
from actors.futures import ask
from actors.supervisor import ChainKey

__all__ = ["Part", "Trip", "Trips"]


class Trip:
    """One actor's share of a batch: its commands, in stream order, asked as one
    ``ApplyBatch`` (one wake-up of its thread and one reply instead of one per message)."""

    __slots__ = ("future", "items", "key", "ref")

    def __init__(self, key: ChainKey | None, ref: pykka.ActorRef[Any]) -> None:
        self.key = key  # None for the product actor
        self.ref = ref
        self.items: list[Any] = []
        self.future: asyncio.Future[Any] | None = None

    def outcome(self, index: int, done: set[asyncio.Future[Any]]) -> Any:
        """What item ``index`` came to: the actor's reply or the exception it raised; None
        when no answer came in time, ``ActorDeadError`` when the actor was gone."""
        future = self.future
        assert future is not None, "outcomes are read after the batch's trips were sent"
        if future not in done:
            future.cancel()
            return None
        exc = future.exception()
        if exc is not None:
            return exc  # the whole trip failed (the actor died before it)
        return future.result()[index]


@dataclass(frozen=True, slots=True)
class Part:
    """Where one message's outcome at one actor will be: item ``index`` of ``trip``."""

    trip: Trip
    index: int


class Trips:
    """The trips of one batch: items collect per actor until ``send``."""

    def __init__(self) -> None:
        self._open: dict[str, Trip] = {}
        self.futures: list[asyncio.Future[Any]] = []  # of the trips sent
        self.items_open = 0

    def add(self, key: ChainKey | None, ref: pykka.ActorRef[Any], command: Any) -> Part:
        trip = self._open.get(ref.actor_urn)
        if trip is None:
            trip = self._open[ref.actor_urn] = Trip(key, ref)
        trip.items.append(command)
        self.items_open += 1
        return Part(trip, len(trip.items) - 1)

    def send(self) -> None:
        for trip in self._open.values():
            trip.future = ask(trip.ref, ApplyBatch(items=tuple(trip.items)))
            self.futures.append(trip.future)
        self._open = {}
        self.items_open = 0
