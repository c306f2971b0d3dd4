"""session-engine: an event-sourced session object engine."""

from session_engine.engine.clock import Clock, ManualClock, SystemClock, as_utc
from session_engine.engine.commands import AppendEvents, Command, Decision, Outcome
from session_engine.engine.engine import Engine
from session_engine.engine.errors import (
    CommandFailed,
    EngineClosed,
    EngineError,
    LimitExceeded,
    NotFound,
    ReservedStream,
    SessionDeleted,
    ValidationFailed,
    WrongExpectedVersion,
)
from session_engine.engine.events import DomainEvent, EventRegistry
from session_engine.engine.inspect import SessionState, StateDiff
from session_engine.engine.inspect.history import HistoryEntry, SessionActivity, SessionsPage
from session_engine.engine.log.records import ANY, NO_STREAM, AppendResult, Metadata, NewEvent, RecordedEvent
from session_engine.engine.projections.asof import SessionAsOf
from session_engine.engine.upgrade import database_url, migrate

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
    "HistoryEntry",
    "LimitExceeded",
    "ManualClock",
    "Metadata",
    "NewEvent",
    "NotFound",
    "Outcome",
    "RecordedEvent",
    "ReservedStream",
    "SessionActivity",
    "SessionAsOf",
    "SessionDeleted",
    "SessionState",
    "SessionsPage",
    "StateDiff",
    "SystemClock",
    "ValidationFailed",
    "WrongExpectedVersion",
    "as_utc",
    "database_url",
    "migrate",
]
