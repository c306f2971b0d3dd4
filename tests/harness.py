"""Drive an async Engine from synchronous code (hypothesis state machines) through an anyio portal."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis.stateful import RuleBasedStateMachine

from engine import Engine

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
