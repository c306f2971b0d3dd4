"""The AsyncAPI document of the message surfaces: checked in, served, complete, its references whole."""

from __future__ import annotations

import json
from typing import Any

import httpx

from session_engine.adapters import asyncapi
from session_engine.adapters.blobhub.commands import COMMANDS
from session_engine.adapters.rpc.bus.protocol import MESSAGE_TYPES
from session_engine.adapters.websocket.protocol import PacketType
from session_engine.adapters.websocket.session import PACKETS


def test_checked_in_document_matches_the_code() -> None:
    assert json.loads(asyncapi.SPEC.read_text()) == asyncapi.build(), (
        "regenerate: python -m session_engine.adapters.asyncapi"
    )


def test_served_document(sqlite_base: str) -> None:
    served = httpx.get(f"{sqlite_base}/asyncapi.json")
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    assert served.json() == json.loads(asyncapi.SPEC.read_text())
    assert "/asyncapi.json" in httpx.get(f"{sqlite_base}/openapi.json").json()["info"]["description"]


def test_every_packet_message_and_method_is_documented() -> None:
    channels = asyncapi.build()["channels"]
    payloads = [m["payload"]["properties"] for m in channels["websocket"]["messages"].values()]
    packets = {payload["type"]["const"] for payload in payloads if "type" in payload}
    assert set(PACKETS) | {PacketType.SESSION_EVENT} <= packets
    assert {m["name"] for m in channels["bus"]["messages"].values()} == set(MESSAGE_TYPES)
    methods = {m["name"] for m in channels["jsonrpc"]["messages"].values()}
    assert set(COMMANDS) | {"subscription/add", "subscription/remove", "subscription/event"} == methods


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return (
            [node["$ref"]]
            if isinstance(node.get("$ref"), str)
            else [r for v in node.values() for r in _refs(v)]
        )
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_reference_resolves() -> None:
    document = asyncapi.build()
    refs = _refs(document)
    assert refs
    for ref in refs:
        node: Any = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in node, ref
            node = node[part]
