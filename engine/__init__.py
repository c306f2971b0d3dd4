"""session-engine: an event-sourced session object engine."""

from engine.clock import Clock, ManualClock, SystemClock
from engine.commands import AppendEvents, Command, Decision, Outcome
from engine.engine import Engine
from engine.errors import (
    CommandFailed,
    EngineClosed,
    EngineError,
    LimitExceeded,
    NotFound,
    ValidationFailed,
    WrongExpectedVersion,
)
from engine.events import DomainEvent, EventRegistry
from engine.log.records import ANY, NO_STREAM, AppendResult, Metadata, NewEvent, RecordedEvent

__all__ = [
    "ANY",
    "NO_STREAM",
    "AppendEvents",
    "AppendResult",
    "Clock",
    "Command",
    "CommandFailed",
    "Decision",
    "DomainEvent",
    "Engine",
    "EngineClosed",
    "EngineError",
    "EventRegistry",
    "LimitExceeded",
    "ManualClock",
    "Metadata",
    "NewEvent",
    "NotFound",
    "Outcome",
    "RecordedEvent",
    "SystemClock",
    "ValidationFailed",
    "WrongExpectedVersion",
]
