"""The AsyncAPI 3.0 document of the server's message surfaces: `/ws`, `/bus`, `/rpc`, `/console/live`.

Built from the protocol modules' own tables and body models (packet types, their bodies and
statuses; the bus's message types; the JSON-RPC methods and their params), so it cannot drift from
the code; the prose around them is in specs/websocket.md and specs/rpc.md, which it points to.
Served at `/asyncapi.json` (linked from `/docs` and the console); the checked-in copy is
`specs/asyncapi.json`, regenerated with `python -m session_engine.adapters.asyncapi`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from session_engine.adapters.console.live import Hello
from session_engine.adapters.rpc.bus import protocol as bus_protocol
from session_engine.adapters.websocket import objects, protocol
from session_engine.adapters.websocket.protocol import PacketType

TITLE = "session-engine message surfaces"
VERSION = "0.1.0"
SPEC = Path(__file__).resolve().parents[1] / "specs" / "asyncapi.json"
REF = "#/components/schemas/{model}"

PACKET_BODIES: dict[int, type[BaseModel]] = {
    PacketType.INITIALIZE: protocol.Initialize,
    PacketType.SET_VALUE: protocol.SetValuePacket,
    PacketType.GET_VALUE: protocol.KeyBody,
    PacketType.DELETE_VALUE: protocol.KeyBody,
    PacketType.SUBSCRIBE_EVENTS: protocol.SubscribeEvents,
    PacketType.UNSUBSCRIBE_EVENTS: protocol.UnsubscribeEvents,
    PacketType.READ_HISTORY: protocol.ReadHistory,
}
"""The request body of each websocket packet that is not a session-object packet (those are
`objects.PACKETS`: the BlobHub command's body without the fields the connection decides)."""

UINT64 = {"type": "integer", "minimum": 0, "maximum": protocol.UINT64_MAX}


class _Schemas:
    """Model schemas collected once under components/schemas; messages refer to them."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def of(self, model: type[BaseModel], drop: frozenset[str] = frozenset()) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF)
        self.schemas.update(schema.pop("$defs", {}))
        if drop:
            schema["properties"] = {k: v for k, v in schema.get("properties", {}).items() if k not in drop}
            schema["required"] = [k for k in schema.get("required", []) if k not in drop]
        return schema


def _message(name: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": summary,
        "contentType": "application/json",
        "payload": payload,
    }


def _packet_body(kind: int, schemas: _Schemas) -> dict[str, Any]:
    if kind in PACKET_BODIES:
        return schemas.of(PACKET_BODIES[kind])
    packet = objects.PACKETS[kind]
    body = schemas.of(packet.model, drop=objects.RESERVED)
    for ours, theirs in packet.renamed.items():
        if theirs in body["properties"]:
            body["properties"][ours] = body["properties"].pop(theirs)
    body["properties"]["revision_id"] = schemas.of(protocol.InRevision)["properties"]["revision_id"]
    body["description"] = f"The BlobHub command `{packet.command}` on the connection's own session."
    return body


def _websocket(schemas: _Schemas) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for kind in PacketType:
        if kind == PacketType.SESSION_EVENT:
            continue
        body = _packet_body(kind, schemas)
        body.setdefault("properties", {}).update({"type": {"const": int(kind)}, "id": UINT64})
        body["required"] = ["type", "id", *body.get("required", [])]
        messages[kind.name.lower()] = _message(kind.name.lower(), f"Packet {int(kind)}", body)
    statuses = sorted(int(status) for status in protocol.Status)
    messages["response"] = _message(
        "response",
        "The answer to a packet: its id, a status, the packet's fields.",
        {
            "type": "object",
            "required": ["id", "status"],
            "properties": {"id": UINT64, "status": {"enum": statuses}},
        },
    )
    event = {"const": int(PacketType.SESSION_EVENT)}
    messages["session_event"] = _message(
        "session_event",
        "Packet 150 (server to client): one event of a subscription (packet 100).",
        {
            "type": "object",
            "required": ["id", "type", "subscription", "event"],
            "properties": {"id": {"const": protocol.SERVER_EVENT_ID}, "type": event, "subscription": UINT64},
        },
    )
    return messages


def _bus(schemas: _Schemas) -> dict[str, Any]:
    return {
        name.replace("-", "_"): _message(name, f"A `{name}` bus message.", schemas.of(model))
        for name, model in bus_protocol.MESSAGE_TYPES.items()
    }


def _jsonrpc(schemas: _Schemas) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    methods = {packet.command: packet.model for packet in objects.PACKETS.values()}
    for method, model in sorted(methods.items()):
        params = schemas.of(model, drop=frozenset({"command", "engine"}))
        messages[method] = _message(
            method,
            f"The BlobHub command `{method}`; the result is the command's JSON result.",
            {
                "type": "object",
                "required": ["jsonrpc", "method"],
                "properties": {
                    "jsonrpc": {"const": "2.0"},
                    "id": {},
                    "method": {"const": method},
                    "params": params,
                },
            },
        )
    for method in ("subscription/add", "subscription/remove"):
        messages[method.replace("/", "_")] = _message(
            method,
            "Websocket only: follow a revision's (or one session's) BlobHub events (specs/rpc.md).",
            {
                "type": "object",
                "properties": {"jsonrpc": {"const": "2.0"}, "id": {}, "method": {"const": method}},
            },
        )
    messages["subscription_event"] = _message(
        "subscription/event",
        "Server to client: a BlobHub event of a subscription; `params.id` is its log position.",
        {
            "type": "object",
            "properties": {"jsonrpc": {"const": "2.0"}, "method": {"const": "subscription/event"}},
        },
    )
    return messages


def _console(schemas: _Schemas) -> dict[str, Any]:
    return {
        "hello": _message(
            "hello",
            "The first frame: which session to follow (null: every session of the namespace), after which"
            " position.",
            schemas.of(Hello),
        ),
        "following": _message(
            "following",
            "The follow started.",
            {"type": "object", "properties": {"following": {"const": True}}},
        ),
        "event": _message(
            "event",
            "One event of the session, as the REST history routes write it.",
            {
                "type": "object",
                "required": ["event"],
                "properties": {"event": {"type": "object"}, "summary": {"type": "string"}},
            },
        ),
        "session": _message(
            "session",
            "Following the namespace: the session an event changed, as GET /api/sessions lists it.",
            {"type": "object", "required": ["session"], "properties": {"session": {"type": "object"}}},
        ),
    }


CHANNELS = {
    "websocket": (
        "/ws",
        "BlazeAuth's session value cache plus this project's packets (specs/websocket.md).",
        _websocket,
    ),
    "bus": ("/bus", "The Makaio bus: session records (specs/rpc.md, 'The bus').", _bus),
    "jsonrpc": (
        "/rpc",
        "JSON-RPC 2.0 over websocket (also HTTP POST /rpc): BlobHub commands (specs/rpc.md).",
        _jsonrpc,
    ),
    "console": (
        "/console/live",
        "The audit console's follow of a session or its namespace (specs/console.md).",
        _console,
    ),
}
SERVER_SENDS = {"response", "session_event", "subscription_event", "following", "event"}
"""Messages only the server sends (every other one the server receives; the bus's go both ways)."""


def build() -> dict[str, Any]:
    schemas = _Schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for channel, (address, description, messages_of) in CHANNELS.items():
        messages = messages_of(schemas)
        channels[channel] = {"address": address, "description": description, "messages": messages}
        for action in ("receive", "send"):
            names = [
                name for name in messages if channel == "bus" or (name in SERVER_SENDS) == (action == "send")
            ]
            operations[f"{channel}_{action}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"} for name in names],
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "The websocket protocols served beside the REST API (`/docs`), on the same port. "
            "Operations are the server's: it receives what clients send and sends the answers and pushes.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "127.0.0.1:8787", "protocol": "ws"}},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.schemas.items()))},
    }


def document_bytes() -> bytes:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


if __name__ == "__main__":
    SPEC.write_bytes(document_bytes())
    sys.stdout.write(f"wrote {SPEC}\n")
