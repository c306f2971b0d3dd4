"""The engine's domain errors as BlobHub answers them: an error name (the error's `code`) and the
HTTP status that fits it (JSON-RPC uses the status as its error code)."""

from __future__ import annotations

from session_engine.engine.errors import (
    EngineError,
    LimitExceeded,
    NotFound,
    SessionDeleted,
    ValidationFailed,
    WrongExpectedVersion,
)
from session_engine.engine.objects.graphs.errors import ElementExists, RevMismatch


class CommandError(Exception):
    """A refused command: `error` is BlobHub's error string, `status` the HTTP status that fits it."""

    def __init__(self, error: str, status: int, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


def status_for(error: EngineError) -> int:
    """The HTTP status that fits an engine error (JSON-RPC uses it as its error code)."""
    if isinstance(error, SessionDeleted):
        return 410  # Gone: it existed, and a late write may not bring it back
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, RevMismatch | ElementExists | WrongExpectedVersion):
        return 409
    if isinstance(error, LimitExceeded):
        return 413
    if isinstance(error, ValidationFailed):
        return 400
    return 500


def refusal(error: EngineError) -> CommandError:
    """The `CommandError` a refused engine call answers with (no detail of an internal failure)."""
    status = status_for(error)
    if status == 500:
        return CommandError("internal_error", 500, "the command failed inside the engine")
    return CommandError(error.code, status, str(error))
