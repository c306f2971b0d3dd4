"""Handing results from the writer thread back to the event loop that waits for them.

The writer thread finishes a batch of commands and must wake every caller waiting for one of them,
on the event loop. `anyio.to_thread` does the round trip, but at a large share of a single
append's CPU per batch (a capacity limiter, cancel scopes, a worker queue). A
`Bridge` does only what the write path needs: make a waiter on the loop, and from the thread, run
one callback on the loop that settles a whole batch of waiters.

On asyncio a waiter is a plain future and the callback goes through `call_soon_threadsafe`. On any
other anyio backend (trio) the generic bridge uses anyio's own primitives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Generator, Iterable
from typing import Any, Protocol

import anyio
import anyio.from_thread
import anyio.lowlevel


class Waiter(Protocol):
    """One caller's wait for its result (awaiting it returns the result or raises the error)."""

    def __await__(self) -> Generator[Any, None, Any]: ...


class Bridge(Protocol):
    def waiter(self) -> Waiter:
        """A new waiter (call on the event loop)."""
        ...

    def settle(self, waiter: Waiter, result: Any, error: BaseException | None) -> None:
        """Give the waiter its result or error (on the event loop). A cancelled caller's waiter is
        left alone: its command may still have committed."""
        ...

    def settle_all(self, answers: Iterable[tuple[Waiter, Any, BaseException | None]]) -> None:
        """`settle` each (waiter, result, error): a batch's answers, in one call (on the event loop)."""
        ...

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop (call from another thread); dropped once the loop is gone."""
        ...

    def after_ready(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the event loop once the tasks ready to run now have run (call on the
        loop). Where the loop offers no such hook, it runs right away."""
        ...

    def after_turn(self, waiter: Waiter) -> Waiter:
        """`waiter`, awaited only after one turn of the loop (the others ready to run go first)."""
        ...

    def quiet(self) -> bool:
        """No other task or callback is ready to run on the loop now (call on the loop). False
        where the loop cannot tell."""
        ...


def current_bridge() -> Bridge:
    """The bridge for the running event loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: trio, say
        return AnyioBridge()
    return AsyncioBridge(loop)


class AsyncioBridge:
    """Plain futures: a task awaiting one takes asyncio's fastest path."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def waiter(self) -> Waiter:
        return self._loop.create_future()

    def settle(self, waiter: Waiter, result: Any, error: BaseException | None) -> None:
        future: asyncio.Future[Any] = waiter  # type: ignore[assignment]
        if future.done():
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def settle_all(self, answers: Iterable[tuple[Waiter, Any, BaseException | None]]) -> None:
        # `settle` inlined: a batch answers 64 callers or more, and a call each costs more than this.
        for future, result, error in answers:
            if future.done():  # type: ignore[attr-defined]
                continue
            if error is None:
                future.set_result(result)  # type: ignore[attr-defined]
            else:
                future.set_exception(error)  # type: ignore[attr-defined]

    def call_soon(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            self._loop.call_soon_threadsafe(callback)

    def after_ready(self, callback: Callable[[], None]) -> None:
        # Behind every callback already queued: the tasks a batch's answers just woke among them.
        self._loop.call_soon(callback)

    def after_turn(self, waiter: Waiter) -> Waiter:
        return _AfterTurn(waiter)

    def quiet(self) -> bool:
        # asyncio's ready queue (uvloop has none: never quiet, so never inline).
        ready = getattr(self._loop, "_ready", None)
        return ready is not None and not ready


class _AfterTurn:
    """A waiter awaited after one turn of an asyncio loop, as `asyncio.sleep(0)` takes one."""

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Waiter) -> None:
        self._waiter = waiter

    def __await__(self) -> Generator[Any, None, Any]:
        yield  # a bare yield: the task is stepped again in the loop's next turn
        return (yield from self._waiter.__await__())


class _TurnThen:
    """The same on any anyio backend: one checkpoint, then the waiter."""

    __slots__ = ("_waiter",)

    def __init__(self, waiter: Waiter) -> None:
        self._waiter = waiter

    def __await__(self) -> Generator[Any, None, Any]:
        yield from anyio.lowlevel.checkpoint().__await__()
        return (yield from self._waiter.__await__())


class _EventWaiter:
    def __init__(self) -> None:
        self._event = anyio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._event.wait().__await__()
        if self._error is not None:
            raise self._error
        return self._result

    def settle(self, result: Any, error: BaseException | None) -> None:
        if not self._event.is_set():
            self._result, self._error = result, error
            self._event.set()


class AnyioBridge:
    """The backend-neutral bridge: anyio events, and the loop's token to call back on it."""

    def __init__(self) -> None:
        self._token = anyio.lowlevel.current_token()

    def waiter(self) -> Waiter:
        return _EventWaiter()

    def settle(self, waiter: Waiter, result: Any, error: BaseException | None) -> None:
        waiter.settle(result, error)  # type: ignore[attr-defined]

    def settle_all(self, answers: Iterable[tuple[Waiter, Any, BaseException | None]]) -> None:
        for waiter, result, error in answers:
            waiter.settle(result, error)  # type: ignore[attr-defined]

    def call_soon(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):
            anyio.from_thread.run_sync(callback, token=self._token)

    def after_ready(self, callback: Callable[[], None]) -> None:
        callback()

    def after_turn(self, waiter: Waiter) -> Waiter:
        return _TurnThen(waiter)

    def quiet(self) -> bool:
        return False
