"""The engine's typed errors. Adapters map each to their protocol's own error form."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""

    code = "engine_error"


class WrongExpectedVersion(EngineError):
    """An append stated a stream version that is no longer current."""

    code = "wrong_expected_version"

    def __init__(self, namespace: str, stream: str, expected: int | None, actual: int) -> None:
        self.namespace = namespace
        self.stream = stream
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"stream {namespace}/{stream}: expected version {expected}, current version {actual}"
        )


class ValidationFailed(EngineError):
    """A command or payload is malformed; nothing was written."""

    code = "validation_failed"


class ReservedStream(ValidationFailed):
    """A client command named one of the engine's own streams (an id starting with `$`, such as
    `$retention`): they are read by anyone and written only by the engine (engine/ids.py)."""

    code = "reserved_stream"

    def __init__(self, namespace: str, stream: str) -> None:
        self.namespace = namespace
        self.stream = stream
        super().__init__(
            f"stream {namespace}/{stream} is reserved for the engine (ids starting with '$'): it can be"
            " read, not written or deleted"
        )


class NotFound(EngineError):
    code = "not_found"


class LimitExceeded(EngineError):
    """A size or count limit would be exceeded; nothing was written."""

    code = "limit_exceeded"


class CommandFailed(EngineError):
    """A command crashed inside the engine; it was rolled back and the others in its batch were not."""

    code = "internal_error"


class EngineClosed(EngineError):
    code = "engine_closed"


class BackupUnsupported(EngineError):
    """This database is backed up with its own tools; the message says how."""

    code = "backup_unsupported"


class SessionDeleted(NotFound):
    """The session was deleted: a write to it is refused until a caller recreates it explicitly
    (`specs/lifecycle.md`), so a late write cannot bring it back."""

    code = "session_deleted"

    def __init__(self, namespace: str, stream: str) -> None:
        self.namespace = namespace
        self.stream = stream
        super().__init__(
            f"session {namespace}/{stream} was deleted; writing to it again needs an explicit recreate"
        )


class StateUnavailable(NotFound):
    """A session's state at a point cannot be computed: the events before it were deleted
    (retention) and no usable snapshot holds the state there. Nothing is guessed."""

    code = "state_unavailable"
