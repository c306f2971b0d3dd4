"""Object resource routes refusing input (both backends): every named error with its HTTP status,
bad bodies and parameters, unknown routes, tenants. Always `{"error": {"code", "message"}}`, and a
refused write appends nothing to the session's history.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.adapters.rest.conftest import bearer
from tests.adapters.rest.resources import GRAPH, THREAD, Objects, message, refused, text
from tests.adapters.samples import MESSAGE


@pytest.fixture
def objects(acme: httpx.Client, sid: str) -> Objects:
    """A session holding a message `m`, a messages log `log`, a thread `t` and a graph `g`."""
    objects = Objects(acme, sid)
    objects.ok(objects.put("m", {"type": "message", "message": MESSAGE}))
    objects.ok(objects.put("log", {"type": "messages", "messages": [MESSAGE]}))
    objects.ok(objects.put("t", THREAD))
    objects.ok(objects.post_item("t", text("first")), 201)
    objects.ok(objects.put("g", GRAPH))
    vertices = [{"op": "add_vertex", "element_id": name, "labels": ["p"]} for name in ("a", "b")]
    objects.ok(
        objects.mutate(
            "g",
            [*vertices, {"op": "add_edge", "element_id": "e", "label": "l", "from_id": "a", "to_id": "b"}],
        )
    )
    return objects


def test_envelope_errors(objects: Objects) -> None:
    before = objects.events()
    refused(objects.put("x", {"type": "video"}), 400, "unknown_object_type")
    refused(objects.put("x", {"type": "message"}), 400, "invalid_session_object")
    refused(
        objects.put("x", {"type": "message", "message": {**MESSAGE, "role": "robot"}}),
        400,
        "invalid_session_object",
    )
    refused(objects.put("x", {"type": "thread", "thread": {}, "extra": 1}), 400, "invalid_session_object")
    refused(
        objects.put("x", {"type": "message", "message": message("nul\x00")}), 400, "invalid_session_object"
    )
    refused(objects.put("x" * 201, THREAD), 400, "invalid_session_object")
    refused(objects.get("x"), 404, "not_found")
    refused(objects.delete("x"), 404, "not_found")
    refused(objects.append("t", [MESSAGE]), 400, "invalid_messages_envelope")
    refused(objects.append("absent", [MESSAGE]), 400, "invalid_messages_envelope")
    refused(objects.append("log", [{"role": "user"}]), 400, "invalid_session_object")
    assert objects.events() == before


def test_thread_errors(objects: Objects) -> None:
    before = objects.events()
    for alias in ("absent", "m", "g"):
        refused(objects.post_item(alias, text("x")), 400, "invalid_thread_envelope")
        refused(objects.items(alias), 400, "invalid_thread_envelope")
        refused(objects.item(alias, "any"), 400, "invalid_thread_envelope")
    refused(objects.post_item("t", [{"type": "video"}]), 400, "invalid_thread_item")
    refused(objects.post_item("t", text("x"), parent_id=""), 400, "invalid_thread_item")
    refused(objects.post_item("t", text("x" * 70_000)), 413, "thread_item_too_large")
    refused(objects.post_item("t", text("x"), metadata={"blob": "y" * 70_000}), 413, "thread_item_too_large")
    refused(objects.item("t", "no-such-item"), 404, "not_found")
    refused(objects.items("t", cursor="garbage!"), 400, "invalid_cursor")
    objects.ok(objects.post_item("t", text("second")), 201)
    before = objects.events()
    ascending = objects.ok(objects.items("t", ascending=True, limit=1))["cursor"]
    refused(objects.items("t", cursor=ascending), 400, "invalid_cursor")  # another order
    graph_cursor = objects.ok(objects.elements("g", limit=1))["cursor"]
    refused(objects.items("t", cursor=graph_cursor, limit=1), 400, "invalid_cursor")  # another listing
    assert objects.events() == before


def test_graph_errors(objects: Objects) -> None:
    before = objects.events()
    ops = [{"op": "add_vertex", "labels": ["x"]}]
    for alias in ("absent", "m", "t"):
        refused(objects.mutate(alias, ops), 400, "invalid_graph_envelope")
        refused(objects.elements(alias), 400, "invalid_graph_envelope")
        refused(objects.elements(alias, id=["a"]), 400, "invalid_graph_envelope")
        refused(objects.element(alias, "a"), 400, "invalid_graph_envelope")
        refused(objects.neighbors(alias, **{"from": ["a"]}), 400, "invalid_graph_envelope")
        refused(
            objects.query(alias, {"start": ["V"], "steps": []}),
            400,
            "invalid_graph_envelope",
        )
    refused(objects.element("g", "zed"), 404, "not_found")
    stale = [{"op": "set_vertex_props", "element_id": "a", "props": {"k": 1}, "if_rev": 9}]
    assert "'a'" in refused(objects.mutate("g", stale), 409, "rev_mismatch")
    refused(
        objects.mutate("g", [{"op": "add_vertex", "element_id": "e", "labels": ["p"]}]), 409, "element_exists"
    )
    refused(objects.mutate("g", [{"op": "delete_vertex", "element_id": "zed"}]), 404, "not_found")
    dangling = {"op": "add_edge", "label": "l", "from_id": "a", "to_id": "zed"}
    refused(objects.mutate("g", [dangling]), 404, "not_found")
    refused(objects.mutate("g", [{"op": "rename", "element_id": "a"}]), 400, "invalid_graph_operation")
    refused(
        objects.mutate("g", [{"op": "set_edge_props", "element_id": "a", "props": {}}]),
        400,
        "invalid_graph_operation",
    )
    refused(objects.mutate("g", [{"op": "add_vertex", "labels": []}]), 400, "invalid_graph_operation")
    refused(objects.mutate("g", [{"op": "add_vertex", "labels": ["x"]}] * 1001), 413, "too_many_operations")
    # All or nothing: the first operation was fine, the second refuses the batch.
    batch = [
        {"op": "add_vertex", "element_id": "c", "labels": ["p"]},
        {"op": "delete_edge", "element_id": "zed"},
    ]
    refused(objects.mutate("g", batch), 404, "not_found")
    refused(objects.element("g", "c"), 404, "not_found")
    for query in (
        {"start": ["X"], "steps": []},
        {"start": ["E"], "steps": [["out"]]},  # a vertex step on edges
        {"start": ["V"], "steps": [["count"], ["out"]]},  # a terminal that is not last
        {"start": ["V"], "steps": [["fly"]]},
        {"start": ["V"], "steps": [["has", "k", "like", 1]]},
        {"start": ["V"], "steps": [["out"]] * 33},
    ):
        refused(objects.query("g", query), 400, "invalid_graph_query")
    refused(objects.elements("g", cursor="garbage!"), 400, "invalid_cursor")
    refused(objects.neighbors("g", **{"from": ["a"], "cursor": "garbage!"}), 400, "invalid_cursor")
    by_creation = objects.ok(objects.elements("g", limit=1))["cursor"]
    refused(objects.elements("g", cursor=by_creation, ascending=True), 400, "invalid_cursor")
    assert objects.ok(objects.element("g", "a"))["rev"] == 1
    assert objects.events() == before


def test_bad_bodies_and_parameters_are_400(objects: Objects) -> None:
    before = objects.events()
    http = objects.http
    for body in (b"{oops", b"", b'{"type": "thread", "thread": {}, "n": NaN}', b"\xff"):
        refused(http.put(objects.url("x"), content=body), 400, "invalid_json")
    for value in ([1], "thread", {"type": 5}, {"thread": {}}):
        refused(objects.put("x", value), 400, "invalid_request")
    bad_posts: list[tuple[str, Any]] = [
        ("log/messages", {"messages": "x"}),
        ("log/messages", {"messages": []}),
        ("log/messages", {}),
        ("t/items", {"content": "x"}),
        ("t/items", {"content": []}),
        ("t/items", {"content": text("x"), "metadata": [1]}),
        ("g/mutations", {"operations": "x"}),
        ("g/mutations", {}),
        ("g/neighbors", {"from": []}),
        ("g/neighbors", {"from": "a"}),
        ("g/neighbors", {"from": ["a"], "direction": "up"}),
        ("g/neighbors", {"from": ["a"], "limit": 0}),
        ("g/query", {"query": [["V"]]}),
        ("g/query", {}),
    ]
    for path, body in bad_posts:
        alias, route = path.split("/")
        refused(http.post(objects.url(alias, route), json=body), 400, "invalid_request")
    refused(http.post(objects.url("t", "items"), content=b"[1"), 400, "invalid_json")
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        refused(objects.list(**params), 400, "invalid_request")
        refused(objects.items("t", **params), 400, "invalid_request")
        refused(objects.elements("g", **params), 400, "invalid_request")
    refused(objects.items("t", ascending="sideways"), 400, "invalid_request")
    refused(objects.elements("g", type="node"), 400, "invalid_request")
    refused(objects.elements("g", ids_only="maybe"), 400, "invalid_request")
    assert objects.events() == before
    # No Content-Type is needed: the body is JSON whatever the header says.
    plain = http.put(
        objects.url("plain"),
        content=b'{"type": "thread", "thread": {}}',
        headers={"content-type": "text/plain"},
    )
    assert plain.status_code == 200 and plain.json()["type"] == "thread"


def test_nul_characters_and_bad_instants_are_400_on_every_backend(objects: Objects) -> None:
    """PostgreSQL text cannot hold NUL: reads used to fail there with 500 (SQLite answered empty)."""
    bad_session = Objects(objects.http, "s\x00")
    refused(bad_session.list(), 400, "invalid_session_object")
    refused(bad_session.get("m"), 400, "invalid_session_object")
    refused(bad_session.items("t"), 400, "invalid_session_object")
    refused(objects.get("m\x00"), 400, "invalid_session_object")
    refused(objects.get("x" * 201), 400, "invalid_session_object")
    refused(objects.elements("g\x00"), 400, "invalid_session_object")
    refused(objects.item("t", "i\x00"), 400, "invalid_request")
    refused(objects.element("g", "a\x00"), 400, "invalid_request")
    refused(objects.elements("g", id=["a", "b\x00"]), 400, "invalid_request")
    refused(objects.list(cursor="x\x00"), 400, "invalid_request")
    refused(objects.items("t", cursor="x\x00"), 400, "invalid_request")
    refused(objects.neighbors("g", **{"from": ["a\x00"]}), 400, "invalid_request")
    refused(objects.neighbors("g", **{"from": ["a"], "label": "l\x00"}), 400, "invalid_request")
    refused(objects.query("g", {"start": ["V", "a\x00"], "steps": []}), 400, "invalid_graph_query")
    refused(
        objects.query("g", {"start": ["V"], "steps": [["has", "k", "eq", "\x00"]]}),
        400,
        "invalid_graph_query",
    )
    sid = objects.session_id
    for path, params in (
        ("/api/sessions/s%00/events", {}),
        ("/api/sessions/s%00/state", {"version": 1}),
        ("/api/events", {"session_id": "s\x00"}),
        ("/api/events", {"type": "t\x00"}),
        (f"/api/sessions/{sid}/events", {"type": "t\x00"}),
    ):
        refused(objects.http.get(path, params=params), 400, "invalid_request")
    for name in ("created_since", "created_before"):
        for instant in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-14:00", "soon", ""):
            refused(objects.items("t", **{name: instant}), 400, "invalid_request")
    refused(objects.elements("g", updated_since="0001-01-01T00:00:00+05:00"), 400, "invalid_request")
    assert (
        len(objects.ok(objects.items("t", created_since="2000-01-01T00:00:00"))["items"]) == 1
    )  # naive: UTC


def test_unknown_routes_and_methods_keep_the_resource_shape(objects: Objects) -> None:
    refused(objects.http.get(objects.url("t", "nope")), 404, "not_found")
    refused(objects.http.get(objects.url("t", "items", "a", "b")), 404, "not_found")
    refused(objects.http.post(objects.url()), 405, "method_not_allowed")
    refused(objects.http.patch(objects.url("m"), json={}), 405, "method_not_allowed")
    refused(objects.http.get(objects.url("g", "mutations")), 405, "method_not_allowed")
    refused(objects.http.delete(objects.url("t", "items")), 405, "method_not_allowed")


def test_tenants_never_see_each_others_objects(
    objects: Objects, globex: httpx.Client, anonymous: httpx.Client, base_url: str
) -> None:
    sid = objects.session_id
    for http in (globex, anonymous):
        other = Objects(http, sid)
        assert other.ok(other.list()) == {"objects": [], "cursor": None}
        refused(other.get("m"), 404, "not_found")
        refused(other.delete("m"), 404, "not_found")
        refused(other.items("t"), 400, "invalid_thread_envelope")
        refused(other.post_item("t", text("intrusion")), 400, "invalid_thread_envelope")
        refused(other.append("log", [MESSAGE]), 400, "invalid_messages_envelope")
        refused(other.elements("g"), 400, "invalid_graph_envelope")
        refused(
            other.mutate("g", [{"op": "delete_vertex", "element_id": "a"}]), 400, "invalid_graph_envelope"
        )
        refused(other.query("g", {"start": ["V"], "steps": [["count"]]}), 400, "invalid_graph_envelope")
        assert other.events() == []
    theirs = Objects(globex, sid)
    theirs.ok(theirs.put("t", {"type": "thread", "thread": {}}))  # the same address, another namespace
    item = theirs.ok(theirs.post_item("t", text("theirs")), 201)
    assert item["revision_id"] == "globex" and item["user_id"] == "globex"
    assert [i["content"] for i in objects.ok(objects.items("t"))["items"]] == [text("first")]
    refused(objects.item("t", item["id"]), 404, "not_found")
    assert {e["metadata"]["actor"] for e in objects.events()} == {"acme"}
    assert [e["metadata"]["actor"] for e in theirs.events()] == ["globex", "globex"]
    for header in ("Bearer wrong-key-123", "Basic abc"):
        with httpx.Client(base_url=base_url, headers={"Authorization": header}) as client:
            response = client.get(Objects(client, sid).url("m"))
            refused(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
    with httpx.Client(base_url=base_url, headers=bearer("nope")) as client:
        refused(Objects(client, sid).put("m", THREAD), 401, "unauthorized")
    assert objects.ok(objects.get("m"))["value"]["type"] == "message"
