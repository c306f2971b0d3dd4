"""Errors every objects subdomain may raise (an address, a missing object, a page cursor).

Each has a stable `code`; adapters map it to their wire (`adapters/blobhub/errors.py`).
"""

from __future__ import annotations

from session_engine.engine.errors import NotFound, ValidationFailed


class ObjectNotFound(NotFound):
    """No session object (or thread item) under that address."""

    code = "not_found"


class InvalidSessionObject(ValidationFailed):
    """The value does not match the shape its `type` selects (or the address is malformed)."""

    code = "invalid_session_object"


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
