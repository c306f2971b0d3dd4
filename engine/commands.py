"""Commands, decisions, and the handler registry: the shape of every write (Cosmic Python style).

A handler is a function `(command, state) -> Decision`. It reads whatever state it needs through
`state`, raises an `EngineError` to refuse, or returns the events to append. It never writes:
the unit of work appends the events and applies the projections, so a refused command has
nothing to undo.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from session_engine.engine.events import DomainEvent
from session_engine.engine.log.records import (
    ANY,
    NO_METADATA,
    AppendResult,
    ExpectedVersion,
    Metadata,
    NewEvent,
    RecordedEvent,
)
from session_engine.engine.quick_init import quick_init

if TYPE_CHECKING:
    from session_engine.engine.unit_of_work import UnitOfWork

R = TypeVar("R")
C = TypeVar("C", bound="Command")


@dataclass(frozen=True, kw_only=True)
class Command:
    """A request to change one session. Subclasses add their fields."""

    namespace: str
    stream: str
    idempotency_key: str | None = None
    metadata: Metadata = NO_METADATA
    """The shared empty one by default: the write path then merges and encodes nothing for it."""
    recreate: bool = False
    """Write even when the session was deleted, bringing it back (`specs/lifecycle.md`)."""


@quick_init
@dataclass(frozen=True, kw_only=True)
class AppendEvents(Command):
    """Append events as they are: the raw log API."""

    events: Sequence[NewEvent | DomainEvent]
    expected_version: ExpectedVersion = ANY


@quick_init
@dataclass(frozen=True)
class Decision(Generic[R]):
    """What a handler decided: events to append (maybe none) and the caller's result.

    `then` computes the result from the recorded events when it needs their positions or versions.
    """

    events: Sequence[NewEvent | DomainEvent] = ()
    result: R | None = None
    expected_version: ExpectedVersion = ANY
    then: Callable[[list[RecordedEvent]], R] | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome(Generic[R]):
    """What `Engine.execute` returns once the command's transaction has committed."""

    result: R | None
    events: list[RecordedEvent]
    append: AppendResult | None
    repeated: bool = False
    """True when the idempotency key matched an earlier command: nothing was appended now."""


CommandHandler = Callable[[Any, "UnitOfWork"], Decision[Any]]
"""Decides one command: reads what it needs through the unit of work, returns a `Decision`."""


class CommandHandlers:
    """Which handler decides each command type: a domain's explicit table (`decide.HANDLERS`)."""

    def __init__(self, table: Mapping[type[Command], CommandHandler] | None = None) -> None:
        self._handlers: dict[type[Command], CommandHandler] = dict(table or {})

    def register(self, command_type: type[C]) -> Callable[[Callable[[C, UnitOfWork], Decision[Any]]], Any]:
        def decorate(handler: Callable[[C, UnitOfWork], Decision[Any]]) -> Any:
            self._handlers[command_type] = handler
            return handler

        return decorate

    def extend(self, other: CommandHandlers) -> None:
        self._handlers.update(other._handlers)

    def for_command(self, command: Command) -> CommandHandler:
        try:
            return self._handlers[type(command)]
        except KeyError:
            raise TypeError(f"no handler registered for {type(command).__name__}") from None


handlers = CommandHandlers()
"""The core domain's handlers: none. `AppendEvents` needs no decision - its events are appended
as they are (the committer records them directly)."""
