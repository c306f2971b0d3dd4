"""The Makaio bus wire format: message models, error codes and close codes (`specs/rpc.md`).

One JSON object per text frame, discriminated by `type`. Inbound messages are validated here so the
endpoint only ever sees well-formed models; outbound messages are built by the small functions below
so every frame the server sends has one spelling.
"""

from __future__ import annotations

import time
import uuid
from enum import IntEnum, StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from session_engine.adapters.requests import note
from session_engine.engine import documents

RECORDS_NAMESPACE = "storage:session"
OBJECTS_NAMESPACE = "objects:session"
"""Bus namespace of the BlobHub session-object events (`objects:session.session_object_modified`...)."""
SERVER_SUBJECTS: dict[str, list[int]] = {f"{RECORDS_NAMESPACE}.*": [0]}
"""What the server announces in its `subscribe`: it handles every `storage:session` subject."""
MAX_ID_LENGTH = 256
MAX_PATTERNS = 256


class ErrorCode(StrEnum):
    NO_HANDLER = "NO_HANDLER"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    TIMEOUT = "TIMEOUT"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    INVALID_MESSAGE = "INVALID_MESSAGE"


class Close(IntEnum):
    NORMAL = 1000
    UNSUPPORTED_DATA = 1003
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    INVALID_MESSAGE = 4400
    AUTH_FAILED = 4401
    AUTH_TIMEOUT = 4408


CLOSE_REASONS: dict[int, str] = {
    Close.NORMAL: "",
    Close.UNSUPPORTED_DATA: "binary frames are not supported",
    Close.MESSAGE_TOO_BIG: "frame too large",
    Close.INTERNAL_ERROR: "internal server error",
    Close.INVALID_MESSAGE: "invalid message",
    Close.AUTH_FAILED: "authentication failed",
    Close.AUTH_TIMEOUT: "authentication timed out",
}


class Message(BaseModel):
    """Fields beyond the ones a message defines are ignored (peers may add their own)."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


Identifier = Field(min_length=1, max_length=MAX_ID_LENGTH)


class AuthResponse(Message):
    type: Literal["auth-response"]
    signature: str = Field(max_length=256)


AckId = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
"""A peer that changes its subscriptions after connecting (Makaio's current client) names the change
with `ackId` and waits for the server's `subscription-ack` carrying it; older peers send none."""


class Subscribe(Message):
    type: Literal["subscribe"]
    subjects: dict[str, list[int]] = Field(max_length=MAX_PATTERNS)
    ackId: str | None = AckId


class Unsubscribe(Message):
    """`subjects` as a list of patterns, or as the same pattern -> priorities map `subscribe` sends."""

    type: Literal["unsubscribe"]
    subjects: list[str] | dict[str, list[int]] = Field(max_length=MAX_PATTERNS)
    ackId: str | None = AckId


class SubscriptionAck(Message):
    """A peer acknowledging a subscription change of ours: the server asks for none, so it is ignored."""

    type: Literal["subscription-ack"]


class SyncComplete(Message):
    type: Literal["subscribe-sync-complete"]


class Heartbeat(Message):
    type: Literal["heartbeat"]
    timestamp: int | float | None = None


class Request(Message):
    type: Literal["request"]
    namespace: str = Field(max_length=MAX_ID_LENGTH)
    subject: str = Field(max_length=MAX_ID_LENGTH)
    payload: Any = None
    correlationId: str = Identifier
    messageId: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    timeout: int | float | None = Field(default=None, gt=0)
    priority: int | None = None
    deadline: int | float | None = None

    @property
    def full_subject(self) -> str:
        return f"{self.namespace}.{self.subject}"


class Event(Message):
    """A peer publishing an event: accepted and dropped (this server handles no inbound events)."""

    type: Literal["event"]


class Response(Message):
    """A response from a peer: the server never sends requests, so it is ignored."""

    type: Literal["response"]


class Broadcast(Message):
    type: Literal["broadcast"]
    correlationId: str | None = Field(default=None, max_length=MAX_ID_LENGTH)


class BroadcastResponse(Message):
    type: Literal["broadcast-response"]


MESSAGE_TYPES: dict[str, type[Message]] = {
    "auth-response": AuthResponse,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "subscribe-sync-complete": SyncComplete,
    "subscription-ack": SubscriptionAck,
    "heartbeat": Heartbeat,
    "request": Request,
    "event": Event,
    "response": Response,
    "broadcast": Broadcast,
    "broadcast-response": BroadcastResponse,
}


class InvalidMessage(Exception):
    """A frame that is not a bus message. `answer` is an error response when one can be addressed."""

    def __init__(self, reason: str, answer: str | None = None) -> None:
        super().__init__(reason)
        self.answer = answer


def parse_message(text: str) -> Message:
    """The validated message of one frame; raises `InvalidMessage`.

    A `request` with a usable `correlationId` but an invalid envelope is answered (validation error)
    instead of closing the connection, so one bad request does not take down a peer's others.
    """
    try:
        data = documents.loads(text)  # integers exactly: a record's 2^70 is refused, not kept as a float
    except documents.NotJson:
        raise InvalidMessage("frame is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidMessage("frame is not a JSON object")
    kind = data.get("type")
    model = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise InvalidMessage("unknown message type")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        correlation = data.get("correlationId")
        answer = None
        if model is Request and isinstance(correlation, str) and 0 < len(correlation) <= MAX_ID_LENGTH:
            answer = error_response(
                correlation,
                "invalid request envelope",
                ErrorCode.INVALID_MESSAGE,
                subject=_full_subject(data.get("namespace"), data.get("subject")),
                data={"issues": validation_issues(error)},
            )
        raise InvalidMessage("invalid message", answer) from None


def _full_subject(namespace: object, subject: object) -> str | None:
    """`namespace.subject` of a refused envelope when both are identifier strings, else None (left
    out). Only strings are formatted: a peer's value of another type is never turned into text."""
    if all(isinstance(part, str) and len(part) <= MAX_ID_LENGTH for part in (namespace, subject)):
        return f"{namespace}.{subject}"
    return None


def validation_issues(error: ValidationError) -> list[dict[str, Any]]:
    """An envelope's errors as `{path: [field], message}`, one per field (no input echoed back).

    Envelope fields are flat: the rest of pydantic's location only names union branches."""
    issues: dict[str, dict[str, Any]] = {}
    for issue in error.errors(include_url=False, include_input=False):
        field = str(issue["loc"][0]) if issue["loc"] else ""
        issues.setdefault(field, {"path": [field] if field else [], "message": issue["msg"]})
    return list(issues.values())


# -- outbound ---------------------------------------------------------------------------------------
def dumps(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


def new_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> int:
    return int(time.time() * 1000)


def auth_challenge(nonce: str) -> str:
    return dumps({"type": "auth-challenge", "nonce": nonce})


def auth_result(success: bool, error: str | None = None) -> str:
    message: dict[str, Any] = {"type": "auth-result", "success": success}
    if error is not None:
        message["error"] = error
    return dumps(message)


def subscribe(subjects: dict[str, list[int]]) -> str:
    return dumps({"type": "subscribe", "subjects": subjects})


SYNC_COMPLETE = dumps({"type": "subscribe-sync-complete"})


def subscription_ack(ack_id: str) -> str:
    return dumps({"type": "subscription-ack", "ackId": ack_id})


def heartbeat() -> str:
    return dumps({"type": "heartbeat", "timestamp": now_ms()})


def result_response(correlation_id: str, result: Any) -> str:
    return dumps({"type": "response", "correlationId": correlation_id, "result": result})


def error_response(
    correlation_id: str,
    message: str,
    code: ErrorCode | str,
    *,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
) -> str:
    note(outcome=code)
    error: dict[str, Any] = {"message": message, "code": str(code)}
    if subject is not None:
        error["subject"] = subject
    if data is not None:
        error["data"] = data
    return dumps({"type": "response", "correlationId": correlation_id, "error": error})


def broadcast_response(correlation_id: str | None) -> str:
    return dumps({"type": "broadcast-response", "correlationId": correlation_id, "results": []})


def event(subject: str, payload: dict[str, Any]) -> str:
    """An event frame; `subject` is the full subject, split at its first dot into namespace.subject."""
    namespace, _, name = subject.partition(".")
    return dumps(
        {"type": "event", "namespace": namespace, "subject": name, "payload": payload, "messageId": new_id()}
    )
