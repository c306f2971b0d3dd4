"""Bad input never crashes the handler: every malformed frame gets its close code and reason."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.adapters.websocket.protocol import PacketType
from session_engine.adapters.websocket.session import PACKETS
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, ServerFactory

ENVELOPE = (4300, "packet does not contain mandatory 'type' and/or 'id' fields")
UNKNOWN = (4301, "invalid handler type specified")
BODY = (4302, "invalid request body")


def closes(url: str, frame: str | bytes, *, initialize: bool = True) -> tuple[int, str]:
    with Client(url) as client:
        if initialize:
            assert client.initialize(ACME_KEY)["status"] == 1
        client.send(frame)
        return client.closed_with()


@pytest.mark.parametrize("initialize", [False, True])
def test_binary_frame_closes_4304(ws_url: str, initialize: bool) -> None:
    frame = b'{"type":13,"id":1,"key":"k"}'
    assert closes(ws_url, frame, initialize=initialize) == (4304, "received unsupported data")


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "{",
        '{"type":0,"id":1',
        "",
        "[]",
        '[{"type":0,"id":1}]',
        '"text"',
        "42",
        "null",
        "{}",
        '{"type":13}',
        '{"id":1}',
        '{"type":"13","id":1}',
        '{"type":13,"id":"1"}',
        '{"type":13,"id":-1}',
        '{"type":13,"id":1.5}',
        '{"type":13.0,"id":1}',
        '{"type":true,"id":1}',
        '{"type":13,"id":false}',
        '{"type":13,"id":null}',
        '{"type":13,"id":18446744073709551616}',
        '{"type":13,"id":99999999999999999999999999}',
    ],
)
def test_bad_envelopes_close_4300(ws_url: str, frame: str) -> None:
    assert closes(ws_url, frame) == ENVELOPE


@pytest.mark.parametrize("kind", [1, 3, 11, 15, 99, 103, 150, 18446744073709551615])
def test_unknown_types_close_4301(ws_url: str, kind: int) -> None:
    assert closes(ws_url, f'{{"type":{kind},"id":1}}') == UNKNOWN


def test_unknown_type_before_initialize_closes_4301(ws_url: str) -> None:
    assert closes(ws_url, '{"type":77,"id":1}', initialize=False) == UNKNOWN


def test_every_packet_a_client_sends_has_its_function_in_one_table() -> None:
    """Two hops from a packet type to its handler: `PACKETS[type]` is the function that answers
    it; every other type closes 4301 (above)."""
    assert set(PACKETS) == set(PacketType) - {PacketType.SESSION_EVENT}


@pytest.mark.parametrize(
    "packet",
    [
        {"type": 12, "key": "k", "value": "v"},  # missing ttl
        {"type": 12, "key": "k", "ttl": 1},  # missing value
        {"type": 12, "value": "v", "ttl": 1},  # missing key
        {"type": 12, "key": "k", "value": 1, "ttl": 1},
        {"type": 12, "key": "k", "value": None, "ttl": 1},
        {"type": 12, "key": 1, "value": "v", "ttl": 1},
        {"type": 12, "key": "k", "value": "v", "ttl": "60"},
        {"type": 12, "key": "k", "value": "v", "ttl": 1.5},
        {"type": 12, "key": "k", "value": "v", "ttl": True},
        {"type": 12, "key": "k", "value": "v", "ttl": 2**63},
        {"type": 12, "key": "k" * 513, "value": "v", "ttl": 1},  # the engine's key bound: 512 bytes
        {"type": 13, "key": "é" * 257},
        {"type": 12, "key": "k", "value": "a\u0000b", "ttl": 1},  # NUL is refused on every backend
        {"type": 12, "key": "k", "value": "v", "ttl": 2**62},  # beyond the engine's longest TTL
        {"type": 13},
        {"type": 13, "key": ["k"]},
        {"type": 14, "key": {"k": 1}},
        {"type": 100, "from_version": 0},
        {"type": 100, "types": "value_set"},
        {"type": 101},
        {"type": 101, "subscription": "1"},
        {"type": 102, "limit": 0},
    ],
)
def test_bad_bodies_close_4302(ws_url: str, packet: dict[str, Any]) -> None:
    assert closes(ws_url, Client_dumps({"id": 5, **packet})) == BODY


@pytest.mark.parametrize(
    "packet",
    [
        {"type": 0, "id": 1, "client_id": 1234, "websocket_api_key": ACME_KEY},
        {"type": 0, "id": 1, "websocket_api_key": ACME_KEY},
        {"type": 0, "id": 1, "client_id": "desktop", "websocket_api_key": 5},
    ],
)
def test_bad_initialize_bodies_close_4302(ws_url: str, packet: dict[str, Any]) -> None:
    assert closes(ws_url, Client_dumps(packet), initialize=False) == BODY


def test_extra_fields_are_ignored(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(13, 2, key="k", extra={"x": [1, 2]}) == {"id": 2, "status": 700}


def test_large_ids_are_echoed(ws_url: str) -> None:
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY, packet_id=0) == {
            "id": 0,
            "status": 1,
            "app_name": "Acme Launcher",
            "app_version": "1.2.3",
        }
        assert client.call(13, 2**64 - 2, key="k") == {"id": 2**64 - 2, "status": 700}


def test_oversize_frame_closes_1009(start_server: ServerFactory) -> None:
    url = start_server(max_frame_bytes=4096)
    with Client(url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(13, 2, key="k" * 200)["status"] == 700  # under the limit
        client.send({"type": 12, "id": 3, "key": "k", "value": "é" * 2100, "ttl": 0})  # 4200+ bytes
        assert client.closed_with() == (1009, "frame too large")


def test_frame_far_over_the_limit_is_refused_by_the_transport(start_server: ServerFactory) -> None:
    url = start_server(max_frame_bytes=4096)
    with Client(url) as client:
        client.send("x" * 100_000)
        assert client.closed_with()[0] == 1009


def Client_dumps(packet: dict[str, Any]) -> str:
    import orjson

    return orjson.dumps(packet).decode()
