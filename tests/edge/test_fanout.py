"""SlicedFanout on its own: slices, replacement by a newer frame, members joining meanwhile."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from edge import fanout
from edge.frames import Frame


class _Recording:
    def __init__(self) -> None:
        self.got: dict[str, list[str]] = defaultdict(list)
        self.slices: list[list[str]] = []
        self.done = asyncio.Event()

    def deliver(self, sids: list[str], frame: Frame) -> None:
        self.slices.append(list(sids))
        for sid in sids:
            self.got[sid].append(frame.packet)


@pytest.fixture(autouse=True)
def _two_per_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "SLICE_CLIENTS", 2)


def _spread(rec: _Recording, frame: Frame, members: list[str]) -> fanout.SlicedFanout:
    return fanout.SlicedFanout(
        frame, members, deliver=rec.deliver, done=rec.done.set, name="test-fanout"
    )


async def test_every_member_gets_the_frame_once_a_slice_per_loop_turn() -> None:
    rec = _Recording()
    _spread(rec, Frame("chain_update", "1"), ["a", "b", "c", "d", "e"])
    await asyncio.wait_for(rec.done.wait(), 5)
    assert rec.slices == [["a", "b"], ["c", "d"], ["e"]]
    assert all(packets == ['2["chain_update",1]'] for packets in rec.got.values())


async def test_a_newer_frame_goes_first_to_those_not_reached_then_to_everyone_else() -> None:
    rec = _Recording()
    old, new = Frame("chain_update", "1"), Frame("chain_update", "2")
    spread = _spread(rec, old, ["a", "b", "c", "d", "e"])
    # one loop turn: the first slice (a, b) went out with the old frame
    await asyncio.sleep(0)  # (noqa: sleep-ok)
    assert rec.slices == [["a", "b"]]
    spread.replace(new, ["a", "b", "c", "d", "e", "f"])  # f joined the room meanwhile
    await asyncio.wait_for(rec.done.wait(), 5)
    assert rec.slices[1:] == [["c", "d"], ["e", "a"], ["b", "f"]]
    assert rec.got["a"] == rec.got["b"] == ['2["chain_update",1]', '2["chain_update",2]']
    assert all(rec.got[sid] == ['2["chain_update",2]'] for sid in "cdef")
