"""Errors every objects subdomain may raise (an address, a missing object, a page cursor).

Each has a stable `code`; adapters map it to their wire (`adapters/blobhub/errors.py`).
"""

from __future__ import annotations

from session_engine.engine.errors import EngineError, NotFound, ValidationFailed


class ObjectNotFound(NotFound):
    """No session object (or thread item) under that address."""

    code = "not_found"


class InvalidSessionObject(ValidationFailed):
    """The value does not match the shape its `type` selects (or the address is malformed)."""

    code = "invalid_session_object"


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"


class UnreadableArgument(EngineError):
    """Mixed into the error a read refuses an argument with before any query: one the database
    could not compare (a NUL: PostgreSQL text cannot hold one, SQLite would find nothing) or an
    instant outside datetime's range in UTC. The error keeps the read's own code; an adapter that
    answers every such argument alike maps this class."""


class UnreadableCursor(InvalidCursor, UnreadableArgument):
    """A page cursor or an instant filter the database cannot compare."""


class UnreadableId(ObjectNotFound, UnreadableArgument):
    """An item id the database cannot compare: no item has it."""
