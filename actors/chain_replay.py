"""Bring a restarted actor back to where its predecessor was: replay FEED after its snapshot.

A chain (or product) actor rebuilt from its KV snapshot has missed every FEED message after
the snapshot's stream sequence. The replay reads them back, validates each again and asks the
actor to apply it. The actor publishes nothing until it passes its publish floor (how far its
last message on ANALYTICS had got), so what was published before is not published twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.js
import pykka
from nats.aio.msg import Msg

from actors import subjects
from actors.commands import ApplyChain, ApplySpot, ApplyUnderlying, GetSnapshot
from actors.errors import FeedRejected
from actors.futures import ask
from actors.messages import ChainFeed, UnderlyingFeed
from actors.products import ProductSpec
from actors.settings import Settings
from actors.stream_reads import last_on_subject, read_range
from actors.validation import ValidFeed, validate

__all__ = ["FeedReplay", "applied_seq", "publish_floor"]


class _Seq(msgspec.Struct):
    stream_seq: int = 0
    seq: int = 0


_seq_decoder = msgspec.json.Decoder(_Seq)


async def publish_floor(js: nats.js.JetStreamContext, subject: str) -> int:
    """How far the newest message on ``subject`` in ANALYTICS had got: its ``stream_seq`` (a
    summary's FEED sequence), else its ``seq`` (a tick's count of applied ticks); 0 if none."""
    raw = await last_on_subject(js, subjects.ANALYTICS_STREAM, subject)
    if raw is None:
        return 0
    try:
        decoded = _seq_decoder.decode(raw)
    except msgspec.DecodeError:
        return 0
    return decoded.stream_seq or decoded.seq


async def applied_seq(ref: pykka.ActorRef[Any]) -> int:
    """The FEED sequence an actor's state has reached (its snapshot's ``stream_seq``)."""
    snap = await ask(ref, GetSnapshot())
    return int(snap.stream_seq)


@dataclass(frozen=True, slots=True)
class FeedReplay:
    """Replays one partition's FEED into its rebuilt actors, checking each message again
    with the settings and products the ingress checked it with."""

    js: nats.js.JetStreamContext
    layout: subjects.FeedLayout
    products: Mapping[str, ProductSpec]
    settings: Settings

    def revalidate(self, msg: Msg) -> ValidFeed | None:
        try:
            return validate(
                self.layout.canonical(msg.subject),
                msg.data,
                products=self.products,
                restrict_products=self.settings.restrict_products,
                max_payload_bytes=self.settings.max_payload_bytes,
            )
        except FeedRejected:
            return None  # was dead-lettered when it first arrived

    async def into_product(
        self, ref: pykka.ActorRef[Any], *, product: str, first_seq: int, last_seq: int
    ) -> int:
        """Ask a product actor to apply its underlying ticks with first_seq ≤ seq ≤ last_seq;
        returns how many it was asked to apply."""
        replies = []
        async for msg in read_range(
            self.js,
            stream=subjects.FEED_STREAM,
            filter_subjects=[subjects.feed_underlying(product)],
            first_seq=first_seq,
            last_seq=last_seq,
        ):
            valid = self.revalidate(msg)
            if valid is not None and isinstance(valid.message, UnderlyingFeed):
                replies.append(
                    ask(
                        ref,
                        ApplyUnderlying(
                            feed=valid.message, stream_seq=msg.metadata.sequence.stream
                        ),
                    )
                )
        await asyncio.gather(*replies, return_exceptions=True)
        return len(replies)

    async def into_chain(
        self,
        ref: pykka.ActorRef[Any],
        *,
        product: str,
        expiry_iso: str,
        first_seq: int,
        last_seq: int,
        poison: set[int],
    ) -> set[int]:
        """Ask a chain actor to apply its chain's messages and its product's ticks with
        first_seq ≤ seq ≤ last_seq, skipping ``poison``; returns the sequences it failed on."""
        replies: list[tuple[int, asyncio.Future[Any]]] = []
        filters = [
            *self.layout.chain_filters(product, expiry_iso),
            subjects.feed_underlying(product),
        ]
        async for msg in read_range(
            self.js,
            stream=subjects.FEED_STREAM,
            filter_subjects=filters,
            first_seq=first_seq,
            last_seq=last_seq,
        ):
            seq = msg.metadata.sequence.stream
            if seq in poison:
                continue
            valid = self.revalidate(msg)
            if valid is None:
                continue
            m = valid.message
            if isinstance(m, UnderlyingFeed):
                command: Any = ApplySpot(price=m.price, ts_ns=m.ts, stream_seq=seq)
            else:
                assert isinstance(m, ChainFeed)
                command = ApplyChain(feed=m, stream_seq=seq, replace=valid.subject.kind == "chain")
            replies.append((seq, ask(ref, command)))
        results = await asyncio.gather(*(f for _, f in replies), return_exceptions=True)
        # A message the actor refused (FeedRejected) changed nothing: not a failure.
        return {
            seq
            for (seq, _), r in zip(replies, results, strict=True)
            if isinstance(r, BaseException) and not isinstance(r, FeedRejected)
        }
