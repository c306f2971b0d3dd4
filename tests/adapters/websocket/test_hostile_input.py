"""The websocket (`/ws`) against hostile packets, on both backends: BlazeAuth packets and this
project's (history, subscriptions, session objects 110-135). Every hostile packet is answered with
a named status or closes with the protocol's own code (4300 / 4301 / 4302), never 4000, never an
error in the server's log, and nothing but the connection's own open / end is recorded. Ends with a
bounded fuzz test of every packet type.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.adapters.hostile import (
    ServerLog,
    document_breaker,
    huge_integer,
    nested,
    not_a_string,
    server_log,
    text_frame,
    too_deep,
)
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY
from tests.adapters.websocket.objects_client import GRAPH_VALUE, MUTATE, QUERY, UPLOAD, Objects

LIFECYCLE = {"connection_session_opened", "connection_session_ended", "connection_session_disconnected"}
PROTOCOL_CLOSES = {4300, 4301, 4302}
_client_ids = itertools.count()


@pytest.fixture
def log() -> Iterator[ServerLog]:
    with server_log() as collected:
        yield collected
    collected.assert_clean()


@pytest.fixture
def rest(ws_url: str) -> Iterator[httpx.Client]:
    base = ws_url.replace("ws://", "http://").removesuffix("/ws")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ACME_KEY}"}, timeout=30) as client:
        yield client


def session_of(rest: httpx.Client, client_id: str, after: int) -> str:
    """The engine session a connection initialized with `client_id` after position `after` got."""
    params: dict[str, str | int] = {"type": "connection_session_opened", "after": after}
    events = rest.get("/api/events", params=params).json()["events"]
    found = [event["stream"] for event in events if event["data"].get("client_id") == client_id]
    assert len(found) == 1, events
    return str(found[0])


def recorded(rest: httpx.Client, session: str) -> set[str]:
    events = rest.get(f"/api/sessions/{session}/events", params={"limit": 1000}).json()["events"]
    return {event["type"] for event in events}


def outcome(client: Client, packet_id: int | None) -> tuple[str, int]:
    """("status", n) for an answer to the packet, or ("close", code) when the server closed."""
    try:
        answer = client.receive(timeout=10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server dropped the connection without a close frame"
        return "close", closed.rcvd.code
    if packet_id is not None:
        assert answer["id"] == packet_id, answer
    return "status", int(answer["status"])


# -- the fixes, one by one ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [100, 102])
def test_history_versions_beyond_the_column_close_4302(ws_url: str, kind: int, log: ServerLog) -> None:
    """from_version 2**31 closed 4000 on PostgreSQL (an INTEGER column; packet 100 only once its
    subscription task read the log) and was answered on SQLite: now the engine's bound, 4302."""
    with Client(ws_url) as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        assert client.call(kind, 2, from_version=2**31 - 1)["status"] == 1
        client.send({"type": kind, "id": 3, "from_version": 2**31})
        assert client.closed_with()[0] == 4302


def test_subscription_types_with_nul_close_4302(ws_url: str, log: ServerLog) -> None:
    """Were answered OK, then the subscription failed in its task: an error logged, a 4000 close."""
    for fields in ({"types": ["value_set\x00"]}, {"from_version": 1, "types": ["a\x00"]}):
        with Client(ws_url) as client:
            assert client.initialize(ACME_KEY)["status"] == 1
            client.send({"type": 100, "id": 2, **fields})
            assert client.closed_with()[0] == 4302


def test_a_deep_graph_query_is_925(objects_ws_url: str, log: ServerLog) -> None:
    """Steps nested 1,000 deep closed 4000 (a RecursionError in the engine)."""
    with Objects(objects_ws_url) as client:
        client.ok(UPLOAD, alias="g", value=GRAPH_VALUE)
        steps = nested(1000).decode()
        client.send(
            f'{{"type": {QUERY}, "id": 9, "alias": "g", "query": {{"start": ["V"], "steps": {steps}}}}}'
        )
        answer = client.receive()
        assert (answer["id"], answer["status"], answer["error"]) == (9, 925, "invalid_graph_query")
        assert "nested deeper than 64 levels" in answer["message"]
        assert client.ok(QUERY, alias="g", query={"start": ["V"], "steps": [["count"]]})["count"] == 0


def test_object_integers_beyond_64_bits_are_refused(objects_ws_url: str, log: ServerLog) -> None:
    """2**64 was stored as a float; -2**63 - 1 too."""
    with Objects(objects_ws_url) as client:
        client.ok(UPLOAD, alias="g", value=GRAPH_VALUE)
        before = client.ok(102, limit=1000)["events"]
        frame = (
            f'{{"type": {MUTATE}, "id": 5, "alias": "g", "operations": [{{"op": "add_vertex",'
            ' "labels": ["x"], "props": {"n": 18446744073709551616}}]}'
        )
        client.send(frame)
        assert client.receive()["status"] == 921
        message = JSON_BLOCK.replace("SLOT", "[-9223372036854775809]")
        client.send(packet(UPLOAD, f'"alias": "m", "value": {{"type": "message", "message": {message}}}'))
        assert client.receive()["status"] == 902
        assert client.ok(102, limit=1000)["events"] == before
        kept = JSON_BLOCK.replace("SLOT", "[18446744073709551615]")
        client.send(
            packet(UPLOAD, f'"alias": "m", "value": {{"type": "message", "message": {kept}}}', packet_id=7)
        )
        assert client.receive()["status"] == 1
        client.send('{"type": 111, "id": 8, "alias": "m"}')
        assert '"json":[18446744073709551615]' in client.ws.recv(timeout=10)


# -- fuzz -------------------------------------------------------------------------------------------

SLOT = "SLOT"
not_an_integer = st.one_of(
    st.sampled_from(['"1"', "1.5", "true", "null", "[]", "{}", "[1]"]), huge_integer.map(bytes.decode)
)
"""For integer fields: JSON of another kind (strict: `1.0` and `true` are not integers), or 64 bits' worth."""

text_breaker = document_breaker.filter(text_frame).map(bytes.decode)
not_a_text = not_a_string.map(bytes.decode)
not_a_text_nor_null = not_a_text.filter(lambda text: text != "null")
"""For optional string fields, where null is allowed."""

JSON_BLOCK = '{"role": "user", "content": [{"type": "json", "json": SLOT}]}'
TEXT_BLOCK = '[{"type": "text", "text": "x"}]'
ADD_VERTEX = '{"op": "add_vertex", "labels": ["x"], "props": {"p": SLOT}}'
versions = st.one_of(
    not_an_integer.filter(lambda text: text != "null"), st.integers(2**31, 2**64 - 1).map(str)
)
"""For `from_version` (optional in packet 100, so null is no breach there)."""


def packet(kind: int, fields: str, *, packet_id: int = 2) -> str:
    return f'{{"type": {kind}, "id": {packet_id}, {fields}}}'


PACKETS: list[tuple[bool, str, st.SearchStrategy[str]]] = [
    (False, packet(0, '"client_id": SLOT', packet_id=1), not_a_text),
    (False, packet(0, '"client_id": "fuzzing", "websocket_api_key": SLOT', packet_id=1), not_a_text),
    (True, packet(12, '"key": SLOT, "value": "v", "ttl": 0'), not_a_text),
    (True, packet(12, '"key": "k", "value": SLOT, "ttl": 0'), not_a_text),
    (True, packet(12, '"key": "k", "value": "v", "ttl": SLOT'), not_an_integer),
    (True, packet(13, '"key": SLOT'), not_a_text),
    (True, packet(14, '"key": SLOT'), not_a_text),
    (True, packet(100, '"from_version": SLOT'), versions),
    (True, packet(100, '"types": [SLOT]'), st.one_of(not_a_text, st.just('"a\\u0000"'))),
    (
        True,
        packet(101, '"subscription": SLOT'),
        st.one_of(not_an_integer, st.integers(0, 2**64 - 1).map(str)),
    ),
    (True, packet(102, '"from_version": SLOT'), versions),
    (
        True,
        '{"type": SLOT, "id": 2}',
        st.one_of(not_an_integer, st.integers(103, 109).map(str), st.just("15")),
    ),
    (True, '{"type": 13, "id": SLOT, "key": "k"}', not_an_integer),
    (True, "SLOT", st.one_of(too_deep().map(bytes.decode), st.sampled_from(["[]", '"x"', "NaN", "{"]))),
    (
        True,
        packet(110, f'"alias": "m", "value": {{"type": "message", "message": {JSON_BLOCK}}}'),
        text_breaker,
    ),
    (
        True,
        packet(110, '"alias": "t", "value": {"type": "thread", "thread": {"attributes": {"a": SLOT}}}'),
        text_breaker,
    ),
    (True, packet(110, '"alias": SLOT, "value": {"type": "thread", "thread": {}}'), not_a_text),
    (True, packet(111, '"alias": SLOT'), not_a_text),
    (True, packet(112, '"cursor": SLOT'), not_a_text_nor_null),
    (True, packet(113, '"alias": SLOT'), not_a_text),
    (True, packet(114, f'"alias": "log", "messages": [{JSON_BLOCK}]'), text_breaker),
    (True, packet(120, f'"alias": "t", "content": {TEXT_BLOCK}, "metadata": {{"m": SLOT}}'), text_breaker),
    (True, packet(121, '"alias": "t", "created_since": SLOT'), not_a_text_nor_null),
    (True, packet(122, '"alias": "t", "item_id": SLOT'), not_a_text),
    (True, packet(130, f'"alias": "g", "operations": [{ADD_VERTEX}]'), text_breaker),
    (True, packet(131, '"alias": "g", "element_id": SLOT'), not_a_text),
    (True, packet(132, '"alias": "g", "element_ids": [SLOT]'), not_a_text),
    (True, packet(133, '"alias": "g", "element_type": SLOT'), not_a_text_nor_null),
    (True, packet(134, '"alias": "g", "from": [SLOT]'), not_a_text),
    (
        True,
        packet(135, '"alias": "g", "query": {"start": ["V"], "steps": [["has", "p", "eq", SLOT]]}'),
        text_breaker,
    ),
    (True, packet(135, '"alias": "g", "query": SLOT'), st.one_of(text_breaker, st.just("[]"))),
]
"""(Initialize first?, the packet, what fills its slot). Each filled packet is refused: a status
other than 1, or a protocol close. The connection's session holds no objects (a new session each
time), so a packet that got past its checks would still be refused by name, never succeed."""

packet_case = st.sampled_from(PACKETS).flatmap(
    lambda packet: st.tuples(st.just(packet[0]), st.just(packet[1]), packet[2])
)


@given(case=packet_case)
def test_hostile_packets_get_a_status_or_a_protocol_close(
    ws_url: str, rest: httpx.Client, case: tuple[bool, str, str]
) -> None:
    """Never 4000 (or 1011), no error in the server's log, nothing recorded but the session's life."""
    initialize_first, template, fragment = case
    client_id = f"fuzz-{next(_client_ids)}-{uuid.uuid4().hex[:8]}"
    before = int(rest.get("/readyz").json()["head"])
    frame = template.replace(SLOT, fragment)
    try:
        packet_id = orjson.loads(frame).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        packet_id = None
    with server_log() as log, Client(ws_url) as client:
        if initialize_first:
            assert client.initialize(ACME_KEY, client_id)["status"] == 1
        client.send(frame)
        kind, value = outcome(client, packet_id if type(packet_id) is int else None)
        if kind == "close":
            assert value in PROTOCOL_CLOSES, (frame[:300], value)
        else:
            assert value != 1, frame[:300]
    log.assert_clean()
    if initialize_first:
        assert recorded(rest, session_of(rest, client_id, before)) <= LIFECYCLE
