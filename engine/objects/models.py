"""The typed values of session objects (BlobHub's `value.type`) and their validation.

Parsing happens in the service, outside the single writer thread; handlers receive models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from session_engine.engine import documents
from session_engine.engine.documents import has_nul
from session_engine.engine.errors import EngineError
from session_engine.engine.ids import check_id
from session_engine.engine.objects import limits
from session_engine.engine.objects.envelopes.errors import SessionObjectTooLarge, UnknownObjectType
from session_engine.engine.objects.errors import InvalidSessionObject

__all__ = ["has_nul"]  # re-exported: ids and read parameters are checked for NUL through here

OBJECT_TYPES = ("message", "messages", "thread", "graph")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TextBlock(_Strict):
    type: Literal["text"]
    text: str


class JsonBlock(_Strict):
    type: Literal["json"]
    json_: Any = Field(alias="json")


class ImageBlock(_Strict):
    type: Literal["image"]
    id: str = Field(min_length=1, max_length=limits.MAX_ID)


class VectorBlock(_Strict):
    type: Literal["vector"]
    values: list[float]


ContentBlock = Annotated[TextBlock | JsonBlock | ImageBlock | VectorBlock, Field(discriminator="type")]
Content = Annotated[list[ContentBlock], Field(max_length=limits.MAX_CONTENT_BLOCKS)]


class TextValue(_Strict):
    type: Literal["text"]
    text: str


class IntegerValue(_Strict):
    type: Literal["integer"]
    integer: int


class FloatValue(_Strict):
    type: Literal["float"]
    float_: float = Field(alias="float")


class BooleanValue(_Strict):
    type: Literal["boolean"]
    flag: bool


class ChoiceValue(_Strict):
    type: Literal["choice"]
    id: str


PortValue = Annotated[
    TextValue | IntegerValue | FloatValue | BooleanValue | ChoiceValue, Field(discriminator="type")
]


class Port(_Strict):
    route: str
    value: PortValue


class Provider(_Strict):
    interface: str
    ports: list[Port] = []


class MessageAttributes(BaseModel):
    """`id`, `created_at` (epoch ms), `syntax_mode`; other attributes are kept as given."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    created_at: int | None = None
    syntax_mode: str | None = None


class Message(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Content
    attributes: MessageAttributes | None = None
    providers: list[Provider] = []
    metadata: dict[str, Any] | None = None


class MessageValue(_Strict):
    type: Literal["message"]
    message: Message


class MessagesValue(_Strict):
    type: Literal["messages"]
    messages: Annotated[list[Message], Field(max_length=limits.MAX_MESSAGES)]


class ContainerBody(_Strict):
    """A thread's or graph's own envelope: attributes and metadata; items/elements live elsewhere."""

    attributes: dict[str, Any] = {}
    metadata: dict[str, Any] | None = None


class ThreadValue(_Strict):
    type: Literal["thread"]
    thread: ContainerBody


class GraphValue(_Strict):
    type: Literal["graph"]
    graph: ContainerBody


ObjectValue = Annotated[MessageValue | MessagesValue | ThreadValue | GraphValue, Field(discriminator="type")]
_value_adapter: TypeAdapter[ObjectValue] = TypeAdapter(ObjectValue)
_messages_adapter: TypeAdapter[list[Message]] = TypeAdapter(list[Message])
_content_adapter: TypeAdapter[list[ContentBlock]] = TypeAdapter(Content)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON form stored in events and tables (wire names, unset optional fields left out)."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def json_size(value: Any, error: type[EngineError] = InvalidSessionObject, what: str = "value") -> int:
    """The bytes of a document as JSON; one orjson cannot write (too deep, a huge integer, a lone
    surrogate) is refused with `error`, saying where it breaks the engine's document rule."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError as failure:
        check_document(value, error, what)
        raise error(f"{what} is not valid JSON text: {failure}") from None


def check_document(value: Any, error: type[EngineError], what: str) -> None:
    """The engine's document rule (`engine.documents`: nesting, integers, NUL...), as `error`."""
    breach = documents.problem(value)
    if breach is not None:
        raise error(f"{what}: {breach}" if not breach.path else f"{what}.{breach}")


def check_identifier(what: str, value: object) -> str:
    """Ids and aliases: the engine's identifier rule (`engine.ids.check_id`), and, objects' own
    addition, no control characters (U+001F separates a scope from a session id in a stream)."""
    text = check_id(what, value, InvalidSessionObject)
    if any(ord(ch) < 32 for ch in text):
        raise InvalidSessionObject(f"{what} must not contain control characters")
    return text


def _errors(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


def parse_value(raw: Any) -> MessageValue | MessagesValue | ThreadValue | GraphValue:
    """Validate an uploaded `value`: unknown type, bad shape and oversize are refused by name."""
    if isinstance(raw, BaseModel):
        raw = dump(raw)
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise InvalidSessionObject("value must be an object with a string `type`")
    if raw["type"] not in OBJECT_TYPES:
        raise UnknownObjectType(
            f"unknown session object type {raw['type']!r}; known: {', '.join(OBJECT_TYPES)}"
        )
    if json_size(raw) > limits.MAX_VALUE_BYTES:
        raise SessionObjectTooLarge(f"a session object value is limited to {limits.MAX_VALUE_BYTES} bytes")
    check_document(raw, InvalidSessionObject, "value")
    try:
        return _value_adapter.validate_python(raw)
    except ValidationError as error:
        raise InvalidSessionObject(f"invalid {raw['type']} value: {_errors(error)}") from None


def parse_messages(raw: Any) -> list[Message]:
    """Validate messages to append to a `messages` object."""
    if not isinstance(raw, list) or not raw:
        raise InvalidSessionObject("append needs a non-empty list of messages")
    if len(raw) > limits.MAX_MESSAGES:
        raise SessionObjectTooLarge(f"at most {limits.MAX_MESSAGES} messages per append")
    plain = [dump(m) if isinstance(m, BaseModel) else m for m in raw]
    if json_size(plain, what="messages") > limits.MAX_APPEND_BYTES:
        raise SessionObjectTooLarge(f"an append is limited to {limits.MAX_APPEND_BYTES} bytes")
    check_document(plain, InvalidSessionObject, "messages")
    try:
        return _messages_adapter.validate_python(plain)
    except ValidationError as error:
        raise InvalidSessionObject(f"invalid message: {_errors(error)}") from None


def parse_content(raw: Any) -> list[ContentBlock]:
    from session_engine.engine.objects.threads.errors import InvalidThreadItem

    if not isinstance(raw, list) or not raw:
        raise InvalidThreadItem("content is required: a non-empty list of content blocks")
    check_document(raw, InvalidThreadItem, "content")
    try:
        return _content_adapter.validate_python(raw)
    except ValidationError as error:
        raise InvalidThreadItem(f"invalid content: {_errors(error)}") from None


def text_of(content: list[dict[str, Any]]) -> str:
    """The searchable text of stored content blocks: its text blocks, one per line."""
    return "\n".join(block["text"] for block in content if block.get("type") == "text")
