"""The ingress's and the publisher's wake-up: woken at once, remembered, or timed out."""

from __future__ import annotations

import asyncio

from actors.wakeup import Wakeup


async def test_a_set_before_the_wait_is_remembered_once() -> None:
    w = Wakeup()
    w.set()
    assert await w.wait(None) is True
    assert await w.wait(0.01) is False  # the flag was used up


async def test_set_wakes_a_sleeper_and_clear_forgets_an_earlier_set() -> None:
    w = Wakeup()
    sleeper = asyncio.create_task(w.wait(30.0))
    await asyncio.sleep(0)  # one loop turn: it starts sleeping (noqa: sleep-ok)
    assert not sleeper.done()
    w.set()
    assert await asyncio.wait_for(sleeper, 5.0) is True
    w.set()
    w.clear()
    assert await w.wait(0.01) is False
