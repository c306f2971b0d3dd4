"""Session-object packets (110-135): one packet type per BlobHub command, run by the shared dispatcher.

A packet's fields are the BlobHub command's fields minus `command` (the packet type says it) and
`session_id` (the connection's own session), plus an optional `revision_id`: any revision of the
connection's tenant, its own (the namespace) when absent. They are
validated strictly here, as every packet is (4302 on failure), then handed to
`adapters.blobhub.commands.run_command`, so the commands themselves exist once for every transport.
The dispatcher's named errors become this protocol's statuses (900 and up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from session_engine.adapters.blobhub.documents import (
    AppendSessionMessages,
    ApplySessionGraphMutations,
    DeleteSessionObject,
    DownloadSessionObject,
    GetSessionGraphElement,
    GetSessionGraphElements,
    GetSessionThreadItem,
    ListSessionGraphElements,
    ListSessionGraphNeighbors,
    ListSessionObjects,
    ListSessionThreadItems,
    PostSessionThreadItem,
    QuerySessionGraph,
    UploadSessionObject,
)
from session_engine.adapters.blobhub.errors import CommandError
from session_engine.adapters.requests import note
from session_engine.adapters.websocket.protocol import (
    OBJECT_TYPES,
    Close,
    InRevision,
    PacketType,
    ProtocolClose,
    Status,
)


@dataclass(frozen=True)
class ObjectPacket:
    """How one packet type becomes one BlobHub command body."""

    command: str
    model: type[BaseModel]
    """The dispatcher's own body model, applied here in strict mode."""
    payload: Mapping[str, type] = field(default_factory=dict)
    """Fields the model leaves to the engine (`Any`): required, and of this JSON kind (object/array)."""
    optional: Mapping[str, type] = field(default_factory=dict)
    """Like `payload`, but absent or null is fine."""
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Packet field -> BlobHub field, where BlobHub's name is taken by the envelope (`type`)."""


PACKETS: dict[int, ObjectPacket] = {
    PacketType.UPLOAD_OBJECT: ObjectPacket(
        "upload_session_object", UploadSessionObject, payload={"value": dict}
    ),
    PacketType.DOWNLOAD_OBJECT: ObjectPacket("download_session_object", DownloadSessionObject),
    PacketType.LIST_OBJECTS: ObjectPacket("list_session_objects", ListSessionObjects),
    PacketType.DELETE_OBJECT: ObjectPacket("delete_session_object", DeleteSessionObject),
    PacketType.APPEND_MESSAGES: ObjectPacket(
        "append_session_messages", AppendSessionMessages, payload={"messages": list}
    ),
    PacketType.POST_THREAD_ITEM: ObjectPacket(
        "post_session_thread_item",
        PostSessionThreadItem,
        payload={"content": list},
        optional={"metadata": dict},
    ),
    PacketType.LIST_THREAD_ITEMS: ObjectPacket("list_session_thread_items", ListSessionThreadItems),
    PacketType.GET_THREAD_ITEM: ObjectPacket("get_session_thread_item", GetSessionThreadItem),
    PacketType.APPLY_GRAPH_MUTATIONS: ObjectPacket(
        "apply_session_graph_mutations", ApplySessionGraphMutations, payload={"operations": list}
    ),
    PacketType.GET_GRAPH_ELEMENT: ObjectPacket("get_session_graph_element", GetSessionGraphElement),
    PacketType.GET_GRAPH_ELEMENTS: ObjectPacket("get_session_graph_elements", GetSessionGraphElements),
    PacketType.LIST_GRAPH_ELEMENTS: ObjectPacket(
        "list_session_graph_elements", ListSessionGraphElements, renamed={"element_type": "type"}
    ),
    PacketType.LIST_GRAPH_NEIGHBORS: ObjectPacket("list_session_graph_neighbors", ListSessionGraphNeighbors),
    PacketType.QUERY_GRAPH: ObjectPacket("query_session_graph", QuerySessionGraph, payload={"query": dict}),
}
assert frozenset(PACKETS) == OBJECT_TYPES

RESERVED = frozenset({"type", "id", "command", "session_id", "revision_id", "engine"})
"""Packet fields never passed on as command fields: the envelope's, the session the connection
decides, and `revision_id` (passed beside the body, as every transport passes it)."""

STATUSES: dict[str, Status] = {
    "not_found": Status.OBJECT_NOT_FOUND,
    "session_deleted": Status.SESSION_DELETED,
    "unknown_object_type": Status.UNKNOWN_OBJECT_TYPE,
    "invalid_session_object": Status.INVALID_SESSION_OBJECT,
    "session_object_too_large": Status.SESSION_OBJECT_TOO_LARGE,
    "invalid_messages_envelope": Status.INVALID_MESSAGES_ENVELOPE,
    "invalid_thread_envelope": Status.INVALID_THREAD_ENVELOPE,
    "invalid_thread_item": Status.INVALID_THREAD_ITEM,
    "thread_item_too_large": Status.THREAD_ITEM_TOO_LARGE,
    "invalid_graph_envelope": Status.INVALID_GRAPH_ENVELOPE,
    "invalid_graph_operation": Status.INVALID_GRAPH_OPERATION,
    "too_many_operations": Status.TOO_MANY_OPERATIONS,
    "element_exists": Status.ELEMENT_EXISTS,
    "rev_mismatch": Status.REV_MISMATCH,
    "invalid_graph_query": Status.INVALID_GRAPH_QUERY,
    "invalid_cursor": Status.INVALID_CURSOR,
}
"""BlobHub error name -> status. Any other name the dispatcher refuses with is 999."""


@dataclass(frozen=True, slots=True)
class ObjectCommand:
    """A validated session-object packet: the BlobHub command body to run, in which revision."""

    body: dict[str, Any]
    revision_id: str | None = None


def command_body(kind: int, packet: dict[str, Any], session_id: str) -> ObjectCommand:
    """The BlobHub body for a packet of the connection's session, or ProtocolClose 4302."""
    spec = PACKETS[kind]
    body = {key: value for key, value in packet.items() if key not in RESERVED}
    for ours, theirs in spec.renamed.items():
        body.pop(theirs, None)
        if ours in body:
            body[theirs] = body.pop(ours)
    body["command"], body["session_id"] = spec.command, session_id
    try:
        spec.model.model_validate(body, strict=True)
    except ValidationError:
        raise ProtocolClose(Close.INVALID_BODY) from None
    for name, kind_of in spec.payload.items():
        if type(body.get(name)) is not kind_of:
            raise ProtocolClose(Close.INVALID_BODY)
    for name, kind_of in spec.optional.items():
        value = body.get(name)
        if value is not None and type(value) is not kind_of:
            raise ProtocolClose(Close.INVALID_BODY)
    try:
        where = InRevision.model_validate({"revision_id": packet.get("revision_id")})
    except ValidationError:
        raise ProtocolClose(Close.INVALID_BODY) from None
    return ObjectCommand(body, where.revision_id)


def answer(packet_id: int, result: Mapping[str, Any]) -> str:
    """OK: the command's result fields beside `id` and `status` (which always win)."""
    document: dict[str, Any] = {"id": packet_id, "status": int(Status.OK)}
    document.update((key, value) for key, value in result.items() if key not in document)
    return orjson.dumps(document).decode()


def refusal(packet_id: int, error: CommandError) -> str:
    """A named refusal: its status, plus BlobHub's `error` name and `message`.

    Bad input the strict check let through (`invalid_request`) still closes 4302; an engine
    failure (`internal_error`) is re-raised, so the connection closes 4000 like any other packet.
    """
    if error.error == "invalid_request":
        raise ProtocolClose(Close.INVALID_BODY) from error
    if error.status >= 500:
        raise error
    status = STATUSES.get(error.error, Status.OBJECT_COMMAND_REFUSED)
    note(outcome=int(status))
    document = {"id": packet_id, "status": int(status), "error": error.error, "message": error.message}
    return orjson.dumps(document).decode()
