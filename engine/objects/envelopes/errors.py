"""The envelopes' typed errors (uploads, appends); each has a stable `code`."""

from __future__ import annotations

from session_engine.engine.errors import LimitExceeded, ValidationFailed


class UnknownObjectType(ValidationFailed):
    code = "unknown_object_type"


class SessionObjectTooLarge(LimitExceeded):
    code = "session_object_too_large"


class InvalidMessagesEnvelope(ValidationFailed):
    """Appending messages to an alias that is missing or not a `messages` object."""

    code = "invalid_messages_envelope"
