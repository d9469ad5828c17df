"""Actor threads run under SCHED_BATCH (woken, they wait for the loop instead of preempting
it); the thread that starts them keeps its own policy."""

from __future__ import annotations

import datetime as dt
import os
import sys
import threading
from typing import Any

import pytest

from actors.chain_actor import ChainActor
from actors.chain_book import ChainBook
from actors.commands import GetSummary, GetUnderlying
from actors.futures import BridgedActor
from actors.product_actor import ProductActor
from actors.products import DEFAULT_PRODUCTS

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="scheduling policies per thread are Linux's"
)


class _Policy(BridgedActor):
    def on_receive(self, message: Any) -> Any:
        return os.sched_getscheduler(0)


def _policy_of(thread_prefix: str) -> set[int]:
    return {
        os.sched_getscheduler(t.native_id)
        for t in threading.enumerate()
        if t.name.startswith(thread_prefix) and t.native_id is not None
    }


def test_an_actor_thread_runs_under_sched_batch_and_its_starter_does_not() -> None:
    before = os.sched_getscheduler(0)
    ref = _Policy.start()
    try:
        assert ref.ask("policy") == os.SCHED_BATCH
    finally:
        ref.stop()
    assert os.sched_getscheduler(0) == before != os.SCHED_BATCH


class _Quiet:
    def publish(self, subject: str, payload: bytes, headers: object = None) -> None:
        pass


def test_chain_and_product_actors_keep_the_base_class_start() -> None:
    spec = DEFAULT_PRODUCTS["NIFTY"]
    chain = ChainActor.start(
        ChainBook(spec, dt.date(2026, 12, 29)),
        publisher=_Quiet(),  # type: ignore[arg-type]
        product_ref=None,
        publish_floor=0,
        chain_interval_ns=10**12,
        surface_interval_ns=10**12,
    )
    product = ProductActor.start(
        spec,
        publisher=_Quiet(),  # type: ignore[arg-type]
        publish_floor=0,
        surface_interval_ns=10**12,
    )
    try:
        chain.ask(GetSummary())  # each has run its on_start once it answers
        product.ask(GetUnderlying())
        assert _policy_of("ChainActor") == {os.SCHED_BATCH}
        assert _policy_of("ProductActor") == {os.SCHED_BATCH}
    finally:
        chain.stop()
        product.stop()
