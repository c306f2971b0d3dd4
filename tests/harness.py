"""Drive an async Engine from synchronous code (hypothesis state machines) through an anyio portal."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis.stateful import RuleBasedStateMachine

from session_engine.engine import Engine, EngineError

T = TypeVar("T")


class EngineHarness:
    """An engine on a fresh database, callable from sync code: `harness.call(engine.append, ...)`."""

    def __init__(self, portal: BlockingPortal, fresh_url: Callable[[], str], **options: Any) -> None:
        self._portal = portal
        self._fresh_url = fresh_url
        self._options = options
        self._stack = contextlib.ExitStack()
        self.url = ""
        self.engine: Engine

    def start(self) -> Engine:
        self.url = self._fresh_url()
        manager = self._portal.wrap_async_context_manager(
            Engine.open(self.url, migrate=False, **self._options)
        )
        self.engine = self._stack.enter_context(manager)
        return self.engine

    def call(self, function: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        return self._portal.call(lambda: function(*args, **kwargs))

    def restart(self) -> Engine:
        """Close and reopen the engine on the same database (what a process restart does)."""
        self._stack.close()
        manager = self._portal.wrap_async_context_manager(
            Engine.open(self.url, migrate=False, **self._options)
        )
        self.engine = self._stack.enter_context(manager)
        return self.engine

    def stop(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def portal() -> Iterator[BlockingPortal]:
    with start_blocking_portal(backend="asyncio") as running:
        yield running


class EngineMachine(RuleBasedStateMachine):
    """A state machine over one engine on a fresh database; every run ends with `verify` clean.

    Subclasses set `make` (the `harness` fixture) and pass engine options to `__init__`.
    """

    make: Callable[..., EngineHarness]

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.harness = self.make(**options)
        self.engine: Engine = self.harness.start()
        self.steps = 0

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.harness.call(function, *args, **kwargs)

    def teardown(self) -> None:
        try:
            assert self.call(self.engine.verify) == []
        finally:
            self.harness.stop()


async def in_one_batch(engine: Engine, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Queue every call while the writer thread is held by a job, so they run as one batch, in order."""
    release = threading.Event()
    outcomes: list[Any] = [None] * len(calls)

    async def run(i: int) -> None:
        try:
            outcomes[i] = await calls[i]()
        except EngineError as error:
            outcomes[i] = error

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(engine._committer.exclusive, lambda _connection: release.wait(10))
        await anyio.sleep(0.05)  # the job holds the writer thread
        for i in range(len(calls)):
            tasks.start_soon(run, i)
            await anyio.sleep(0)  # queued in this order
        await anyio.sleep(0.05)
        batches = engine.stats["batches"]
        release.set()
    assert engine.stats["batches"] == batches + 1, "the calls did not share one batch"
    return outcomes
