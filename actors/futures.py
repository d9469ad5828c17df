"""Await a pykka actor's reply on the asyncio loop without blocking the loop.

pykka's futures block on ``get()`` (and their ``__await__`` calls ``get()``), so actors here
create ``BridgedFuture``s, which run callbacks when set; ``ask()`` turns one into an
asyncio future resolved through ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

import pykka

from actors.thread_scheduling import no_wakeup_preemption

__all__ = ["BridgedActor", "BridgedFuture", "ask"]

OptExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class BridgedFuture(pykka.Future[Any]):
    """A pykka future that runs callbacks when set, and waits on a C lock in ``get``.

    ``ThreadingFuture`` builds a ``threading.Condition`` (Python code) per future and enters it
    on every set and get; each trip to an actor makes one future, on the path of every feed
    message. Here a lock taken at creation is released by ``set``: ``get`` passes it once the
    result is there, in C.
    """

    def __init__(self) -> None:
        super().__init__()
        self._guard = threading.Lock()
        self._ready = threading.Lock()
        self._ready.acquire()  # released once, by set or set_exception
        self._outcome: tuple[Any, OptExcInfo | None] | None = None
        self._callbacks: list[Callable[[BridgedFuture], None]] | None = []

    def get(self, *, timeout: float | None = None) -> Any:
        if self._get_hook is not None:  # a future made by map, filter, join or reduce
            return super().get(timeout=timeout)
        if self._outcome is None:
            if not self._ready.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
                raise pykka.Timeout(f"{timeout} seconds")
            self._ready.release()  # for any other waiter
        assert self._outcome is not None
        value, exc_info = self._outcome
        if exc_info is None:
            return value
        exc_type, exc_value, exc_traceback = exc_info
        assert exc_type is not None
        if exc_value is None:
            exc_value = exc_type()
        if exc_value.__traceback__ is not exc_traceback:
            raise exc_value.with_traceback(exc_traceback)
        raise exc_value

    def set(self, value: Any | None = None) -> None:
        self._settle((value, None))

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        assert exc_info is None or len(exc_info) == 3
        self._settle((None, exc_info if exc_info is not None else sys.exc_info()))

    def _settle(self, outcome: tuple[Any, OptExcInfo | None]) -> None:
        with self._guard:
            if self._outcome is not None or self._get_hook is not None:
                raise queue.Full  # as pykka's futures: set at most once
            self._outcome = outcome
            callbacks, self._callbacks = self._callbacks, None
        self._ready.release()
        for cb in callbacks or ():
            cb(self)

    def add_done_callback(self, cb: Callable[[BridgedFuture], None]) -> None:
        with self._guard:
            if self._callbacks is not None:
                self._callbacks.append(cb)
                return
        cb(self)


class BridgedActor(pykka.ThreadingActor):
    """A ThreadingActor whose ``ask`` futures can be awaited on an asyncio loop.

    pykka stops an actor whose ``tell`` handler raises and restarts nothing; ``on_crash``
    (called on the dying actor's thread) lets a supervisor hear of it.
    """

    on_crash: Callable[[pykka.ActorRef[Any], BaseException | None], None] | None = None

    def on_start(self) -> None:
        """Runs first on the actor's own thread; a subclass that overrides it calls this."""
        no_wakeup_preemption()

    def on_failure(self, exc_type: Any, exc_value: BaseException | None, tb: Any) -> None:
        if self.on_crash is not None:
            self.on_crash(self.actor_ref, exc_value)

    def each(self, items: Iterable[Any]) -> tuple[Any, ...]:
        """Handle ``items`` in order as if each had been asked alone: per item its reply, or
        the exception it raised (the items after it are still handled, as they would be)."""
        outcomes: list[Any] = []
        for item in items:
            try:
                outcomes.append(self.on_receive(item))
            except Exception as exc:  # the caller decides, per item, what a failure means
                outcomes.append(exc)
        return tuple(outcomes)

    @staticmethod
    def _create_future() -> BridgedFuture:  # pykka's documented hook for new future types
        return BridgedFuture()

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:  # pykka's hook for actor types
        # The C queue: ``queue.Queue`` takes its lock and condition in Python on every put
        # and get, a fifth of a trip's cost to five actors (bench/RESULTS.md).
        return queue.SimpleQueue()


class _LoopInbox:
    """Hands callbacks from actor threads to one loop, waking it once per burst: a reply
    per feed message would otherwise cost a self-pipe write each."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def put(self, fn: Callable[[Any], None], arg: Any) -> None:
        with self._lock:
            self._items.append((fn, arg))
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._scheduled = False
        for fn, arg in items:
            fn(arg)


_inboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopInbox] = (
    weakref.WeakKeyDictionary()
)


def _inbox(loop: asyncio.AbstractEventLoop) -> _LoopInbox:
    inbox = _inboxes.get(loop)
    if inbox is None:
        inbox = _inboxes[loop] = _LoopInbox(loop)
    return inbox


def ask(ref: pykka.ActorRef[Any], message: Any) -> asyncio.Future[Any]:
    """Send ``message`` to an actor; the returned asyncio future resolves with its reply
    (or its exception, or ``pykka.ActorDeadError``). Call from the event loop only."""
    loop = asyncio.get_running_loop()
    result: asyncio.Future[Any] = loop.create_future()
    try:
        fut = ref.ask(message, block=False)
    except pykka.ActorDeadError as exc:
        result.set_exception(exc)
        return result

    def transfer(done: pykka.Future[Any]) -> None:
        if result.done():
            return
        try:
            result.set_result(done.get(timeout=0))
        except Exception as exc:  # the actor's exception, handed to the awaiting caller
            result.set_exception(exc)

    if not isinstance(fut, BridgedFuture):
        raise TypeError(f"{ref} is not a BridgedActor")
    inbox = _inbox(loop)
    fut.add_done_callback(lambda done: inbox.put(transfer, done))
    return result
