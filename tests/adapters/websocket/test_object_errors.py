"""Session-object packets refused: every named status (9xx), bad bodies (4302), engine failures (4000)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from session_engine.engine.errors import CommandFailed, WrongExpectedVersion
from session_engine.engine.objects.service import ObjectsService
from tests.adapters.websocket.objects_client import (
    APPEND,
    DELETE,
    DOWNLOAD,
    ELEMENT,
    ELEMENTS,
    GET_ITEM,
    GRAPH_VALUE,
    LIST,
    LIST_ELEMENTS,
    LIST_ITEMS,
    MESSAGE,
    MESSAGE_VALUE,
    MUTATE,
    NEIGHBORS,
    PEOPLE,
    POST_ITEM,
    QUERY,
    THREAD_VALUE,
    UPLOAD,
    Objects,
    text,
)


@pytest.fixture
def client(objects_ws_url: str) -> Iterator[Objects]:
    with Objects(objects_ws_url) as connected:
        connected.ok(UPLOAD, alias="m", value=MESSAGE_VALUE)
        connected.ok(UPLOAD, alias="t", value=THREAD_VALUE)
        connected.ok(UPLOAD, alias="g", value=GRAPH_VALUE)
        connected.ok(MUTATE, alias="g", operations=PEOPLE)
        yield connected


def test_not_found_900(client: Objects) -> None:
    assert "nope" in client.refused(DOWNLOAD, 900, "not_found", alias="nope")
    client.refused(DELETE, 900, "not_found", alias="nope")
    client.refused(GET_ITEM, 900, "not_found", alias="t", item_id="nope")
    client.refused(ELEMENT, 900, "not_found", alias="g", element_id="zed")
    ops = [{"op": "delete_vertex", "element_id": "zed"}]
    assert "zed" in client.refused(MUTATE, 900, "not_found", alias="g", operations=ops)


def test_envelope_statuses_90x(client: Objects) -> None:
    client.refused(UPLOAD, 901, "unknown_object_type", alias="x", value={"type": "video"})
    client.refused(UPLOAD, 902, "invalid_session_object", alias="x", value={"type": "message"})
    client.refused(UPLOAD, 902, "invalid_session_object", alias="bad\u0001alias", value=MESSAGE_VALUE)
    huge = {"type": "message", "message": {**MESSAGE, "content": text("x" * 1_100_000)}}
    client.refused(UPLOAD, 903, "session_object_too_large", alias="x", value=huge)
    client.refused(APPEND, 904, "invalid_messages_envelope", alias="t", messages=[MESSAGE])
    client.refused(APPEND, 904, "invalid_messages_envelope", alias="absent", messages=[MESSAGE])
    listed = [(o["alias"], o["type"]) for o in client.ok(LIST)["objects"]]
    assert listed == [("g", "graph"), ("m", "message"), ("t", "thread")]  # nothing refused was written


def test_thread_statuses_91x(client: Objects) -> None:
    client.refused(POST_ITEM, 910, "invalid_thread_envelope", alias="absent", content=text("x"))
    client.refused(POST_ITEM, 910, "invalid_thread_envelope", alias="g", content=text("x"))
    client.refused(LIST_ITEMS, 910, "invalid_thread_envelope", alias="m")
    client.refused(POST_ITEM, 911, "invalid_thread_item", alias="t", content=[])
    client.refused(POST_ITEM, 911, "invalid_thread_item", alias="t", content=[{"type": "sound"}])
    client.refused(POST_ITEM, 912, "thread_item_too_large", alias="t", content=text("x" * 70_000))
    assert client.ok(LIST_ITEMS, alias="t")["items"] == []


def test_graph_statuses_92x(client: Objects) -> None:
    client.refused(MUTATE, 920, "invalid_graph_envelope", alias="t", operations=PEOPLE)
    client.refused(ELEMENT, 920, "invalid_graph_envelope", alias="absent", element_id="ann")
    client.refused(MUTATE, 921, "invalid_graph_operation", alias="g", operations=[{"op": "rename"}])
    edge_props = [{"op": "set_edge_props", "element_id": "ann", "props": {}}]
    client.refused(MUTATE, 921, "invalid_graph_operation", alias="g", operations=edge_props)
    too_many = [{"op": "add_vertex", "labels": ["x"]}] * 1001
    client.refused(MUTATE, 922, "too_many_operations", alias="g", operations=too_many)
    taken = [{"op": "add_vertex", "element_id": "new", "labels": ["p"]}, PEOPLE[1]]
    client.refused(MUTATE, 923, "element_exists", alias="g", operations=taken)
    stale = [{"op": "set_vertex_props", "element_id": "ann", "props": {"a": 1}, "if_rev": 7}]
    assert "ann" in client.refused(MUTATE, 924, "rev_mismatch", alias="g", operations=stale)
    client.refused(QUERY, 925, "invalid_graph_query", alias="g", query={"start": ["X"], "steps": []})
    client.refused(QUERY, 925, "invalid_graph_query", alias="g", query={"start": ["V"], "steps": [["fly"]]})
    # every refused batch wrote nothing: the elements are as PEOPLE made them
    assert client.ok(ELEMENTS, alias="g", element_ids=["new", "ann"])["elements"][0]["rev"] == 1


def test_invalid_cursor_930(client: Objects) -> None:
    client.refused(LIST_ITEMS, 930, "invalid_cursor", alias="t", cursor="garbage!")
    client.refused(LIST_ITEMS, 930, "invalid_cursor", alias="t", created_since="yesterday")
    client.refused(LIST_ELEMENTS, 930, "invalid_cursor", alias="g", cursor="garbage!")
    client.refused(NEIGHBORS, 930, "invalid_cursor", alias="g", cursor="garbage!", **{"from": ["ann"]})
    descending = client.ok(LIST_ELEMENTS, alias="g", limit=1)["cursor"]
    client.refused(LIST_ELEMENTS, 930, "invalid_cursor", alias="g", cursor=descending, ascending=True)


def test_other_named_errors_are_999(client: Objects, monkeypatch: pytest.MonkeyPatch) -> None:
    async def conflict(*args: object, **kwargs: object) -> None:
        raise WrongExpectedVersion("acme", "s", 1, 2)

    monkeypatch.setattr(ObjectsService, "download", conflict)
    client.refused(DOWNLOAD, 999, "wrong_expected_version", alias="m")
    monkeypatch.undo()
    assert client.ok(DOWNLOAD, alias="m")["alias"] == "m"  # the connection stays open


def test_engine_failure_closes_4000(client: Objects, monkeypatch: pytest.MonkeyPatch) -> None:
    async def crash(*args: object, **kwargs: object) -> None:
        raise CommandFailed("the decision raised")

    monkeypatch.setattr(ObjectsService, "upload", crash)
    client.send({"type": UPLOAD, "id": 50, "alias": "x", "value": MESSAGE_VALUE})
    assert client.closed_with() == (4000, "internal server error")


BAD_BODIES: list[dict[str, Any]] = [
    {"type": UPLOAD, "alias": "a"},  # value missing
    {"type": UPLOAD, "alias": "a", "value": None},
    {"type": UPLOAD, "alias": "a", "value": "message"},
    {"type": UPLOAD, "alias": "a", "value": [MESSAGE_VALUE]},
    {"type": UPLOAD, "value": MESSAGE_VALUE},  # alias missing
    {"type": UPLOAD, "alias": 5, "value": MESSAGE_VALUE},
    {"type": UPLOAD, "alias": "", "value": MESSAGE_VALUE},
    {"type": UPLOAD, "alias": "a" * 201, "value": MESSAGE_VALUE},
    {"type": DOWNLOAD, "alias": ["a"]},
    {"type": DOWNLOAD, "alias": None},
    {"type": LIST, "limit": "10"},
    {"type": LIST, "limit": 0},
    {"type": LIST, "limit": True},
    {"type": LIST, "limit": 1.0},
    {"type": LIST, "cursor": 3},
    {"type": DELETE},
    {"type": APPEND, "alias": "m", "messages": MESSAGE},
    {"type": APPEND, "alias": "m"},
    {"type": POST_ITEM, "alias": "t", "content": "hi"},
    {"type": POST_ITEM, "alias": "t"},
    {"type": POST_ITEM, "alias": "t", "content": text("x"), "metadata": "text"},
    {"type": POST_ITEM, "alias": "t", "content": text("x"), "parent_id": 7},
    {"type": LIST_ITEMS, "alias": "t", "ascending": 1},
    {"type": LIST_ITEMS, "alias": "t", "limit": -1},
    {"type": GET_ITEM, "alias": "t"},
    {"type": GET_ITEM, "alias": "t", "item_id": ""},
    {"type": MUTATE, "alias": "g"},
    {"type": MUTATE, "alias": "g", "operations": {"op": "add_vertex"}},
    {"type": ELEMENT, "alias": "g", "element_id": 7},
    {"type": ELEMENTS, "alias": "g", "element_ids": "ann"},
    {"type": ELEMENTS, "alias": "g", "element_ids": ["x"] * 1001},
    {"type": LIST_ELEMENTS, "alias": "g", "element_type": "node"},
    {"type": LIST_ELEMENTS, "alias": "g", "ids_only": "yes"},
    {"type": NEIGHBORS, "alias": "g"},  # from missing
    {"type": NEIGHBORS, "alias": "g", "from": "ann"},
    {"type": NEIGHBORS, "alias": "g", "from": ["ann"], "direction": "up"},
    {"type": QUERY, "alias": "g", "query": [["V"]]},
    {"type": QUERY, "alias": "g"},
]


@pytest.mark.parametrize("packet", BAD_BODIES)
def test_bad_bodies_close_4302(client: Objects, packet: dict[str, Any]) -> None:
    client.send(orjson.dumps({"id": 9, **packet}).decode())
    assert client.closed_with() == (4302, "invalid request body")
