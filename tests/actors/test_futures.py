"""``BridgedFuture`` keeps pykka's future contract (set once, ``get`` with a time-out, the
actor's exception re-raised, ``map``) while running its callbacks once, when set."""

from __future__ import annotations

import queue
import sys
import threading

import pykka
import pytest

from actors.futures import BridgedActor, BridgedFuture
from tests.conftest import WAIT_S


def test_get_returns_the_value_and_runs_each_callback_once() -> None:
    fut = BridgedFuture()
    seen: list[object] = []
    fut.add_done_callback(lambda f: seen.append(f.get(timeout=0)))
    fut.set(42)
    fut.add_done_callback(lambda f: seen.append(f.get(timeout=0)))  # after: runs at once
    assert fut.get() == 42 and fut.get(timeout=0) == 42
    assert seen == [42, 42]


def test_a_future_is_set_only_once() -> None:
    fut = BridgedFuture()
    fut.set(1)
    with pytest.raises(queue.Full):
        fut.set(2)
    with pytest.raises(queue.Full):
        fut.set_exception((ValueError, ValueError("late"), None))
    assert fut.get() == 1


def test_get_times_out_while_nothing_is_set() -> None:
    fut = BridgedFuture()
    with pytest.raises(pykka.Timeout):
        fut.get(timeout=0)
    with pytest.raises(pykka.Timeout):
        fut.get(timeout=0.001)


def test_the_exception_set_is_raised_by_every_get_with_its_traceback() -> None:
    fut = BridgedFuture()
    try:
        raise KeyError("strike")
    except KeyError:
        tb = sys.exc_info()[2]
        fut.set_exception()
    for _ in range(2):
        with pytest.raises(KeyError, match="strike") as raised:
            fut.get(timeout=0)
        assert raised.value.__traceback__ is not None
        assert tb is not None and tb.tb_frame in {t.tb_frame for t in _frames(raised.tb)}


def _frames(tb: object) -> list[object]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next  # type: ignore[attr-defined]
    return out


def test_waiters_on_other_threads_all_wake_when_it_is_set() -> None:
    fut = BridgedFuture()
    got: list[object] = []
    ready = threading.Barrier(4)

    def wait() -> None:
        ready.wait(WAIT_S)
        got.append(fut.get(timeout=WAIT_S))

    waiting = [threading.Thread(target=wait) for _ in range(3)]
    for t in waiting:
        t.start()
    ready.wait(WAIT_S)  # all three are on their way into get()
    fut.set("done")
    for t in waiting:
        t.join(WAIT_S)
    assert got == ["done"] * 3


def test_map_and_a_blocking_ask_work_as_with_pykkas_own_futures() -> None:
    class Echo(BridgedActor):
        def on_receive(self, message: object) -> object:
            if message == "fail":
                raise RuntimeError("refused")
            return message

    ref = Echo.start()
    try:
        assert ref.ask(7) == 7  # blocks in get() on the calling thread
        assert ref.ask(7, block=False).map(lambda x: x * 3).get(timeout=WAIT_S) == 21
        with pytest.raises(RuntimeError, match="refused"):
            ref.ask("fail")
    finally:
        ref.stop()
