"""Audit views of a session: its typed state at any point, its history, diffs, the sessions list."""

from session_engine.engine.inspect.diff import (
    Change,
    ListDiff,
    MapDiff,
    ObjectChange,
    ObjectsDiff,
    StateDiff,
    diff,
)
from session_engine.engine.inspect.state import Envelope, ObjectState, SessionState, ValueState

__all__ = [
    "Change",
    "Envelope",
    "ListDiff",
    "MapDiff",
    "ObjectChange",
    "ObjectState",
    "ObjectsDiff",
    "SessionState",
    "StateDiff",
    "ValueState",
    "diff",
]
