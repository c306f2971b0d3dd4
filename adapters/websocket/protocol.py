"""The wire format: packet types, request bodies, statuses and close codes (BlazeAuth, plus ours).

Every constant here is quoted from `specs/websocket.md`; the reference owns 0-99, this project
owns 100 and up (packets) and 800 and up (statuses). The session-object packets' bodies are
BlobHub command bodies: `adapters/websocket/objects.py` validates them. Which function answers
each packet type: `adapters/websocket/session.py` (`PACKETS`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from session_engine.adapters.requests import note
from session_engine.engine import documents
from session_engine.engine.errors import EngineError
from session_engine.engine.objects.limits import MAX_ID
from session_engine.engine.values.errors import StoreOutOfEntries, StoreOutOfMemory, StoreValueNotFound

UINT64_MAX = 2**64 - 1
SERVER_EVENT_ID = UINT64_MAX
"""Server-pushed packets carry this id so they never collide with a request id."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class PacketType(IntEnum):
    INITIALIZE = 0
    SET_VALUE = 12
    GET_VALUE = 13
    DELETE_VALUE = 14
    # this project's own packets
    SUBSCRIBE_EVENTS = 100
    UNSUBSCRIBE_EVENTS = 101
    READ_HISTORY = 102
    # session objects: one packet per BlobHub command (adapters/websocket/objects.py)
    UPLOAD_OBJECT = 110
    DOWNLOAD_OBJECT = 111
    LIST_OBJECTS = 112
    DELETE_OBJECT = 113
    APPEND_MESSAGES = 114
    POST_THREAD_ITEM = 120
    LIST_THREAD_ITEMS = 121
    GET_THREAD_ITEM = 122
    APPLY_GRAPH_MUTATIONS = 130
    GET_GRAPH_ELEMENT = 131
    GET_GRAPH_ELEMENTS = 132
    LIST_GRAPH_ELEMENTS = 133
    LIST_GRAPH_NEIGHBORS = 134
    QUERY_GRAPH = 135
    SESSION_EVENT = 150
    """Server -> client only: one event of a subscription."""


class Status(IntEnum):
    OK = 1
    INVALID_API_KEY = 2
    ALREADY_INITIALIZED = 4
    INTERNAL_SERVER_ERROR = 6
    CLIENT_ID_TOO_SHORT = 500
    CLIENT_ID_TOO_LONG = 501
    STORE_VALUE_NOT_FOUND = 700
    STORE_OUT_OF_MEMORY = 701
    STORE_OUT_OF_ENTRIES = 702
    # this project's own statuses
    SUBSCRIPTION_NOT_FOUND = 800
    TOO_MANY_SUBSCRIPTIONS = 801
    SESSION_DELETED = 802
    """The session was deleted (its record, by any adapter): a write may not bring it back."""
    # session objects: BlobHub's named errors (adapters/websocket/objects.py maps them)
    OBJECT_NOT_FOUND = 900
    UNKNOWN_OBJECT_TYPE = 901
    INVALID_SESSION_OBJECT = 902
    SESSION_OBJECT_TOO_LARGE = 903
    INVALID_MESSAGES_ENVELOPE = 904
    INVALID_THREAD_ENVELOPE = 910
    INVALID_THREAD_ITEM = 911
    THREAD_ITEM_TOO_LARGE = 912
    INVALID_GRAPH_ENVELOPE = 920
    INVALID_GRAPH_OPERATION = 921
    TOO_MANY_OPERATIONS = 922
    ELEMENT_EXISTS = 923
    REV_MISMATCH = 924
    INVALID_GRAPH_QUERY = 925
    INVALID_CURSOR = 930
    OBJECT_COMMAND_REFUSED = 999
    """Any other named error of the dispatcher; the response's `error` names it."""


class Close(IntEnum):
    NORMAL = 1000
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 4000
    NOT_INITIALIZED = 4200
    RATE_LIMIT = 4201
    INITIALIZE_DEADLINE = 4202
    INITIALIZE_FAILED = 4205
    MISSING_TYPE_OR_ID = 4300
    UNKNOWN_TYPE = 4301
    INVALID_BODY = 4302
    UNSUPPORTED_DATA = 4304
    RESUME_FAILED = 4400
    RESUME_NOT_FOUND = 4401


CLOSE_REASONS: dict[int, str] = {
    Close.NORMAL: "",
    Close.MESSAGE_TOO_BIG: "frame too large",
    Close.INTERNAL_ERROR: "internal server error",
    Close.NOT_INITIALIZED: "connection is not initialized",
    Close.RATE_LIMIT: "rate limit hit",
    Close.INITIALIZE_DEADLINE: "session wasn't initialized in 15 seconds after connection",
    Close.INITIALIZE_FAILED: "failed to initialize session",
    Close.MISSING_TYPE_OR_ID: "packet does not contain mandatory 'type' and/or 'id' fields",
    Close.UNKNOWN_TYPE: "invalid handler type specified",
    Close.INVALID_BODY: "invalid request body",
    Close.UNSUPPORTED_DATA: "received unsupported data",
    Close.RESUME_FAILED: "failed to resume session",
    Close.RESUME_NOT_FOUND: "resume ID was not found or it is expired",
}


class ProtocolClose(Exception):
    """Raised anywhere in packet handling to close the connection with `code`."""

    def __init__(self, code: Close, *, answer: str | None = None) -> None:
        super().__init__(CLOSE_REASONS[code])
        self.code = code
        self.answer = answer
        """A response to send before closing (the packet that crossed a limit is still answered)."""


# -- request bodies (validated strictly: "1" is not an int, true is not an int) ---------------------
class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Initialize(Body):
    websocket_api_key: str | None = None
    client_id: str


class SetValuePacket(Body):
    """The body of a SET_VALUE packet (the engine's command is `values.commands.SetValue`)."""

    key: str
    value: str
    ttl: int = Field(ge=INT64_MIN, le=INT64_MAX)


class KeyBody(Body):
    key: str


class InRevision(Body):
    """A packet on the connection's session that may name a BlobHub revision of its tenant: that
    revision's stream of the session (absent: the session's own, the tenant's own revision)."""

    revision_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID)


class SubscribeEvents(InRevision):
    from_version: int | None = Field(default=None, ge=1, le=INT64_MAX)
    types: list[str] | None = Field(default=None, max_length=64)


class UnsubscribeEvents(Body):
    subscription: int = Field(ge=1, le=INT64_MAX)


class ReadHistory(InRevision):
    from_version: int = Field(default=1, ge=1, le=INT64_MAX)
    limit: int = Field(default=50, ge=1, le=1000)


OBJECT_TYPES: frozenset[int] = frozenset(
    kind for kind in PacketType if PacketType.UPLOAD_OBJECT <= kind < PacketType.SESSION_EVENT
)
"""The session-object packets (110-135); their bodies are validated by `adapters.websocket.objects`."""

STORE_STATUSES: dict[type[EngineError], Status] = {
    StoreValueNotFound: Status.STORE_VALUE_NOT_FOUND,
    StoreOutOfMemory: Status.STORE_OUT_OF_MEMORY,
    StoreOutOfEntries: Status.STORE_OUT_OF_ENTRIES,
}
"""The values domain's store errors -> the BlazeAuth statuses that stand for them."""


def is_uint64(value: object) -> bool:
    return type(value) is int and 0 <= value <= UINT64_MAX


def parse_envelope(text: str) -> tuple[int, int, dict[str, Any]]:
    """(type, id, the whole object) or ProtocolClose 4300. The type is looked up and the body
    validated later (`adapters.websocket.session.PACKETS`)."""
    try:
        packet = documents.loads(text)  # integers exact: 2**64 is not an id that rounds to a float
    except documents.NotJson:
        raise ProtocolClose(Close.MISSING_TYPE_OR_ID) from None
    if type(packet) is not dict:
        raise ProtocolClose(Close.MISSING_TYPE_OR_ID)
    kind, packet_id = packet.get("type"), packet.get("id")
    if not is_uint64(kind) or not is_uint64(packet_id):
        raise ProtocolClose(Close.MISSING_TYPE_OR_ID)
    assert isinstance(kind, int) and isinstance(packet_id, int)
    return kind, packet_id, packet


B = TypeVar("B", bound=Body)


def parse_body(model: type[B], packet: dict[str, Any]) -> B:
    """The packet's body as `model` validates it strictly, or ProtocolClose 4302."""
    try:
        return model.model_validate(packet)
    except ValidationError:
        raise ProtocolClose(Close.INVALID_BODY) from None


def response(packet_id: int, status: Status, **fields: Any) -> str:
    if status is not Status.OK:
        note(outcome=int(status))
    return orjson.dumps({"id": packet_id, "status": int(status), **fields}).decode()
