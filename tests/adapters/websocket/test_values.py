"""The session value cache (types 12, 13, 14) on the connection-bound policy: every status."""

from __future__ import annotations

import time

import orjson

from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY


def initialized(url: str) -> Client:
    client = Client(url)
    assert client.initialize(ACME_KEY)["status"] == 1
    return client


def test_the_reference_example_byte_for_byte(ws_url: str) -> None:
    with Client(ws_url) as client:
        exchange = [
            (
                f'{{"type":0,"id":1,"websocket_api_key":"{ACME_KEY}","client_id":"desktop-main"}}',
                '{"id":1,"status":1,"app_name":"Acme Launcher","app_version":"1.2.3"}',
            ),
            (
                '{"type":12,"id":13,"key":"launcher_token","value":"abc123","ttl":3600}',
                '{"id":13,"status":1}',
            ),
            ('{"type":13,"id":14,"key":"launcher_token"}', '{"id":14,"status":1,"value":"abc123"}'),
            ('{"type":14,"id":15,"key":"launcher_token"}', '{"id":15,"status":1}'),
            ('{"type":13,"id":16,"key":"launcher_token"}', '{"id":16,"status":700}'),
        ]
        for request, expected in exchange:
            client.ws.send(request)
            assert client.ws.recv(timeout=5) == expected


def test_set_overwrites(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(12, 2, key="k", value="one", ttl=60) == {"id": 2, "status": 1}
        assert client.call(12, 3, key="k", value="two", ttl=0) == {"id": 3, "status": 1}
        assert client.call(13, 4, key="k") == {"id": 4, "status": 1, "value": "two"}
        assert client.call(12, 5, key="", value="", ttl=-5) == {"id": 5, "status": 1}  # empty is fine
        assert client.call(13, 6, key="") == {"id": 6, "status": 1, "value": ""}


def test_delete_and_get_of_missing_keys_answer_700(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(13, 2, key="nope") == {"id": 2, "status": 700}
        assert client.call(14, 3, key="nope") == {"id": 3, "status": 700}
        assert client.call(12, 4, key="k", value="v", ttl=1)["status"] == 1
        assert client.call(14, 5, key="k") == {"id": 5, "status": 1}
        assert client.call(14, 6, key="k") == {"id": 6, "status": 700}


def test_64_entries_then_702(ws_url: str) -> None:
    with initialized(ws_url) as client:
        for n in range(64):
            assert client.call(12, n + 10, key=f"k{n}", value="v", ttl=0)["status"] == 1
        assert client.call(12, 99, key="k64", value="v", ttl=0) == {"id": 99, "status": 702}
        assert client.call(12, 100, key="k0", value="new", ttl=0)["status"] == 1  # overwrite is fine
        assert client.call(14, 101, key="k1")["status"] == 1
        assert client.call(12, 102, key="k64", value="v", ttl=0)["status"] == 1


def test_16384_bytes_then_701_and_the_old_value_stays(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(12, 2, key="a", value="é" * 4096, ttl=0)["status"] == 1  # 8192 bytes
        assert client.call(12, 3, key="b", value="x" * 8192, ttl=0)["status"] == 1  # exactly 16384
        assert client.call(12, 4, key="c", value="y", ttl=0) == {"id": 4, "status": 701}
        assert client.call(12, 5, key="b", value="x" * 8193, ttl=0) == {"id": 5, "status": 701}
        assert client.call(13, 6, key="b") == {"id": 6, "status": 1, "value": "x" * 8192}
        assert client.call(12, 7, key="b", value="x" * 100, ttl=0)["status"] == 1  # shrinking is fine
        assert client.call(12, 8, key="one-too-big", value="z" * 16385, ttl=0)["status"] == 701


def test_both_limits_report_701(ws_url: str) -> None:
    with initialized(ws_url) as client:
        for n in range(63):
            assert client.call(12, n + 10, key=f"k{n}", value="v", ttl=0)["status"] == 1
        assert client.call(12, 80, key="big", value="x" * (16384 - 63), ttl=0)["status"] == 1
        assert client.call(12, 81, key="more", value="x", ttl=0) == {"id": 81, "status": 701}


def test_ttl_expiry(ws_url: str) -> None:
    with initialized(ws_url) as client:
        assert client.call(12, 2, key="short", value="v", ttl=1)["status"] == 1
        assert client.call(12, 3, key="long", value="w", ttl=3600)["status"] == 1
        assert client.call(13, 4, key="short")["status"] == 1
        time.sleep(1.1)
        assert client.call(13, 5, key="short") == {"id": 5, "status": 700}
        assert client.call(14, 6, key="short") == {"id": 6, "status": 700}
        assert client.call(13, 7, key="long") == {"id": 7, "status": 1, "value": "w"}


def test_unicode_round_trips(ws_url: str) -> None:
    with initialized(ws_url) as client:
        value = 'ключ 🔑 "quoted" \\ back\nslash'
        assert client.call(12, 2, key="ключ 🔑", value=value, ttl=0)["status"] == 1
        client.send({"type": 13, "id": 3, "key": "ключ 🔑"})
        assert orjson.loads(client.ws.recv(timeout=5)) == {"id": 3, "status": 1, "value": value}
