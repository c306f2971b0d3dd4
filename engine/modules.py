"""The engine's domains. Each contributes event types, command handlers and projections.

A new domain adds one entry to `DOMAINS`; the Engine builds itself from this list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from session_engine.engine.commands import CommandHandlers
from session_engine.engine.commands import handlers as core_handlers
from session_engine.engine.events import EventRegistry
from session_engine.engine.projections.base import Projection


@dataclass(frozen=True)
class Domain:
    name: str
    events: EventRegistry = field(default_factory=EventRegistry)
    handlers: CommandHandlers = field(default_factory=CommandHandlers)
    projections: Sequence[Projection] = ()


def _core() -> Domain:
    return Domain("core", handlers=core_handlers)


def domains() -> list[Domain]:
    """Every domain of the engine, core first. Imported lazily to keep import order simple."""
    from session_engine.engine.objects import domain as objects
    from session_engine.engine.records import domain as records
    from session_engine.engine.values import domain as values

    # Records before objects: in a replay page a message's new term rows then find their session's
    # record already written and copy its filters once (engine/records/term_filters.py), instead of
    # being written without them and updated when the record arrives.
    return [_core(), values, records, objects]
