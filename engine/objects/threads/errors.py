"""The threads' typed errors; each has a stable `code`."""

from __future__ import annotations

from session_engine.engine.errors import LimitExceeded, ValidationFailed


class InvalidThreadEnvelope(ValidationFailed):
    """A thread command on an alias that is missing or not a thread."""

    code = "invalid_thread_envelope"


class InvalidThreadItem(ValidationFailed):
    code = "invalid_thread_item"


class ThreadItemTooLarge(LimitExceeded):
    code = "thread_item_too_large"
