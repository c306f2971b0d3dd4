"""The values domain's typed errors, each with a stable `code`.

No protocol codes here: each adapter maps these to its wire (the websocket adapter gives the store
errors their statuses in a table of its own; REST maps by base class).
"""

from __future__ import annotations

from session_engine.engine.errors import LimitExceeded, NotFound, ValidationFailed


class StoreValueNotFound(NotFound):
    """Get or delete of a missing or expired key (the service itself answers None / False)."""

    code = "store_value_not_found"


class StoreOutOfMemory(LimitExceeded):
    """The write would exceed a byte limit (a session's total, or one value's size)."""

    code = "store_out_of_memory"


class StoreOutOfEntries(LimitExceeded):
    """The write would add a key beyond the session's entry limit."""

    code = "store_out_of_entries"


class SessionNotFound(NotFound):
    """A connection-bound lifetime call named a session that was never opened as one."""

    code = "session_not_found"


class SessionEnded(NotFound):
    """The connection-bound session has ended: its values are gone and it cannot come back."""

    code = "session_ended"


class SessionConflict(ValidationFailed):
    """The call does not fit the session's kind or state (e.g. opening a session twice)."""

    code = "session_conflict"
