"""Where a JetStream message sits in its stream, read off its ack subject, agrees with
nats-py's own reading in both subject forms and on messages a real server delivered."""

from __future__ import annotations

from typing import Any

import nats.errors
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nats.aio.msg import Msg

from actors.pull import ContinuousPull, delivery
from tests.conftest import WAIT_S

_COUNT = st.integers(1, 2**63 - 1)


def _msg(reply: str) -> Msg:
    return Msg(_client=None, subject="deltastream.feed.underlying.NIFTY", reply=reply)  # type: ignore[arg-type]


@given(delivered=_COUNT, seq=_COUNT, consumer_seq=_COUNT, pending=st.integers(0, 2**40))
def test_both_ack_subject_forms_read_as_nats_py_reads_them(
    delivered: int, seq: int, consumer_seq: int, pending: int
) -> None:
    ts = 1_796_000_000_123_456_789
    tail = f"{delivered}.{seq}.{consumer_seq}.{ts}.{pending}"
    for reply in (
        f"$JS.ACK.FEED.ingress.{tail}",
        f"$JS.ACK.hub.ACCHASH.FEED.ingress.{tail}.r4nd0m",
    ):
        meta = _msg(reply).metadata
        assert (
            delivery(_msg(reply))
            == (meta.sequence.stream, meta.num_delivered)
            == (
                seq,
                delivered,
            )
        )


def test_a_subject_of_another_shape_is_left_to_nats_py() -> None:
    with pytest.raises(nats.errors.NotJSMessageError):  # nats-py refuses it too
        delivery(_msg("_INBOX.abc.1"))


async def test_messages_from_a_real_consumer_read_the_same(analytics_nc: Any) -> None:
    nc, js = analytics_nc, analytics_nc.jetstream()
    await js.add_stream(name="PULLED", subjects=["pulled.>"])
    for i in range(5):
        await js.publish(f"pulled.{i}", b"x")
    await js.add_consumer("PULLED", durable_name="reader", ack_policy="explicit")
    pull = ContinuousPull(nc, stream="PULLED", consumer="reader", batch=16)
    await pull.start()
    try:
        got: list[Msg] = []
        while len(got) < 5:
            got += await pull.next_batch(16, timeout_s=WAIT_S)
        for msg in got:
            meta = msg.metadata
            assert delivery(msg) == (meta.sequence.stream, meta.num_delivered)
        assert [delivery(m)[0] for m in got] == [1, 2, 3, 4, 5]
    finally:
        await pull.stop()
