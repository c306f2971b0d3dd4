"""Object resource routes over real HTTP (both backends): envelopes, messages, threads, graphs.

Every write must also show up, with the adapter's metadata, in the session's history route.
Refusals and their error shape: `test_objects_errors.py`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.adapters.rest.resources import GRAPH, THREAD, Objects, message, refused, text
from tests.adapters.samples import MESSAGE


@pytest.fixture
def objects(acme: httpx.Client, sid: str) -> Objects:
    return Objects(acme, sid)


def page_through(fetch: Any, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every entry of a cursor-paged listing; checks that only the last page has no cursor."""
    seen: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = fetch(**params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body[key]
        cursor = body["cursor"]
        if cursor is None:
            return seen
        assert body[key], "a page with a cursor must not be empty"
    raise AssertionError("the cursor never ran out")


def test_message_object_create_read_replace_delete(objects: Objects, sid: str) -> None:
    assert objects.ok(objects.list()) == {"objects": [], "cursor": None}
    summary = objects.ok(objects.put("greeting", {"type": "message", "message": MESSAGE}))
    assert summary["revision_id"] == "acme" and summary["session_id"] == sid
    assert summary["alias"] == "greeting" and summary["type"] == "message"
    assert datetime.fromisoformat(summary["updated_at"]).utcoffset() is not None
    envelope = objects.ok(objects.get("greeting"))
    assert envelope == {
        "revision_id": "acme",
        "session_id": sid,
        "alias": "greeting",
        "updated_at": summary["updated_at"],
        "value": {"type": "message", "message": MESSAGE},
    }
    replaced = objects.ok(objects.put("greeting", THREAD))  # another type: a new object
    assert replaced["type"] == "thread" and replaced["updated_at"] >= summary["updated_at"]
    assert objects.ok(objects.get("greeting"))["value"] == THREAD
    deleted = objects.delete("greeting")
    assert deleted.status_code == 204 and deleted.content == b""
    refused(objects.get("greeting"), 404, "not_found")
    assert objects.ok(objects.list())["objects"] == []


def test_aliases_and_session_ids_may_hold_any_character(acme: httpx.Client, sid: str) -> None:
    objects = Objects(acme, f"user/42 {sid}?#%é")
    for alias in ("a/b", "sp ace", "100%", "ünï😀", "items"):
        objects.ok(objects.put(alias, {"type": "message", "message": message(alias)}))
        assert objects.ok(objects.get(alias))["alias"] == alias
    listed = [o["alias"] for o in objects.ok(objects.list())["objects"]]
    assert sorted(listed) == sorted(["a/b", "sp ace", "100%", "ünï😀", "items"])
    assert acme.get(f"/api/sessions/user%2F42%20{sid}%3F%23%25%C3%A9/objects/a%2Fb").status_code == 200


def test_listing_pages_in_alias_order(objects: Objects) -> None:
    for alias in ("b", "a", "d", "c", "e"):
        objects.ok(objects.put(alias, {"type": "message", "message": message(alias)}))
    everything = objects.ok(objects.list())
    assert [(o["alias"], o["type"]) for o in everything["objects"]] == [
        (alias, "message") for alias in "abcde"
    ]
    assert everything["cursor"] is None and all("updated_at" in o for o in everything["objects"])
    paged = page_through(objects.list, "objects", limit=2)
    assert [o["alias"] for o in paged] == list("abcde")


def test_messages_object_appends_continue_the_ordinals(objects: Objects, sid: str) -> None:
    objects.ok(objects.put("log", {"type": "messages", "messages": [message("one")]}))
    first = objects.ok(objects.append("log", [message("two", "assistant"), message("three")]))
    assert first["alias"] == "log" and first["type"] == "messages" and first["session_id"] == sid
    assert (first["first_ordinal"], first["count"]) == (1, 2)
    second = objects.ok(objects.append("log", [message("four")]))
    assert (second["first_ordinal"], second["count"]) == (3, 1)
    value = objects.ok(objects.get("log"))["value"]
    assert [m["content"][0]["text"] for m in value["messages"]] == ["one", "two", "three", "four"]
    assert value["messages"][1]["role"] == "assistant"


def test_thread_items_post_read_and_page(objects: Objects, sid: str) -> None:
    objects.ok(objects.put("t", THREAD))
    posted = [objects.ok(objects.post_item("t", text(f"#{i}")), 201) for i in range(7)]
    reply = objects.ok(
        objects.post_item("t", text("reply"), parent_id=posted[0]["id"], metadata={"type": "tool_call"}),
        201,
    )
    assert set(posted[0]) == {"id", "session_id", "revision_id", "alias", "created_at", "user_id", "content"}
    assert posted[0]["session_id"] == sid and posted[0]["revision_id"] == "acme"
    assert posted[0]["alias"] == "t" and posted[0]["user_id"] == "acme"
    assert reply["parent_id"] == posted[0]["id"] and reply["metadata"] == {"type": "tool_call"}
    posted.append(reply)
    ids = [item["id"] for item in posted]
    assert len(set(ids)) == len(ids)
    assert objects.ok(objects.item("t", reply["id"])) == reply
    assert [i["id"] for i in objects.ok(objects.items("t"))["items"]] == ids[::-1]  # newest first
    for ascending, order in ((True, ids), (False, ids[::-1])):
        for limit in (1, 3):
            paged = page_through(
                lambda **p: objects.items("t", **p), "items", ascending=ascending, limit=limit
            )
            assert [i["id"] for i in paged] == order, (ascending, limit)
    since = objects.ok(objects.items("t", ascending=True, created_since=posted[2]["created_at"]))["items"]
    assert [i["id"] for i in since] == [i["id"] for i in posted if i["created_at"] > posted[2]["created_at"]]
    before = objects.ok(objects.items("t", created_before=posted[2]["created_at"]))["items"]
    assert [i["id"] for i in before] == [
        i["id"] for i in posted if i["created_at"] < posted[2]["created_at"]
    ][::-1]
    window = page_through(
        lambda **p: objects.items("t", **p),
        "items",
        ascending=True,
        limit=2,
        created_since=posted[0]["created_at"],
        created_before=reply["created_at"],
    )
    inside = [i["id"] for i in posted if posted[0]["created_at"] < i["created_at"] < reply["created_at"]]
    assert [i["id"] for i in window] == inside
    objects.ok(objects.put("t", {"type": "thread", "thread": {"attributes": {"name": "renamed"}}}))
    assert len(objects.ok(objects.items("t"))["items"]) == len(posted)  # thread over thread keeps items
    assert objects.delete("t").status_code == 204  # cascades: a new thread starts empty
    objects.ok(objects.put("t", THREAD))
    assert objects.ok(objects.items("t")) == {"items": [], "cursor": None}
    refused(objects.item("t", reply["id"]), 404, "not_found")


PEOPLE = [
    {"op": "add_vertex", "element_id": "ann", "labels": ["person"], "props": {"name": "Ann", "age": 31}},
    {"op": "add_vertex", "element_id": "bob", "labels": ["person"], "props": {"name": "Bob", "age": 25}},
    {"op": "add_vertex", "element_id": "acme", "labels": ["company"], "props": {"name": "Acme"}},
    {"op": "add_edge", "element_id": "e1", "label": "knows", "from_id": "ann", "to_id": "bob"},
    {"op": "add_edge", "element_id": "e2", "label": "works_at", "from_id": "bob", "to_id": "acme"},
    {"op": "add_edge", "element_id": "e3", "label": "works_at", "from_id": "ann", "to_id": "acme"},
]


def test_graph_mutations_and_element_reads(objects: Objects) -> None:
    objects.ok(objects.put("g", GRAPH))
    changed = objects.ok(objects.mutate("g", PEOPLE))["elements"]
    assert [(e["element_id"], e["type"], e["change"], e["rev"]) for e in changed] == [
        ("ann", "vertex", "created", 1),
        ("bob", "vertex", "created", 1),
        ("acme", "vertex", "created", 1),
        ("e1", "edge", "created", 1),
        ("e2", "edge", "created", 1),
        ("e3", "edge", "created", 1),
    ]
    ann = objects.ok(objects.element("g", "ann"))
    assert (
        ann["type"] == "vertex" and ann["labels"] == ["person"] and ann["props"] == {"name": "Ann", "age": 31}
    )
    assert ann["rev"] == 1 and ann["user_id"] == "acme" and ann["created_at"] == ann["updated_at"]
    edge = objects.ok(objects.element("g", "e1"))
    assert (edge["label"], edge["from_id"], edge["to_id"]) == ("knows", "ann", "bob")
    generated = objects.ok(objects.mutate("g", [{"op": "add_vertex", "labels": ["tmp"]}]))["elements"][0]
    assert generated["change"] == "created" and len(generated["element_id"]) == 32
    update = [
        {"op": "set_vertex_props", "element_id": "ann", "props": {"city": "Oslo"}, "if_rev": 1},
        {"op": "remove_vertex_props", "element_id": "ann", "keys": ["age", "absent"]},
        {"op": "set_edge_props", "element_id": "e1", "props": {"since": 2020}},
        {"op": "delete_vertex", "element_id": generated["element_id"]},
    ]
    result = objects.ok(objects.mutate("g", update))["elements"]
    assert [(e["element_id"], e["change"], e["rev"]) for e in result] == [
        ("ann", "updated", 3),
        ("e1", "updated", 2),
        (generated["element_id"], "deleted", None),
    ]
    ann = objects.ok(objects.element("g", "ann"))
    assert ann["props"] == {"name": "Ann", "city": "Oslo"} and ann["updated_at"] > ann["created_at"]
    many = objects.ok(objects.elements("g", id=["e1", "zed", "ann"]))["elements"]
    assert [e["element_id"] for e in many] == ["e1", "ann"]
    vertices = objects.ok(objects.elements("g", type="vertex", ascending=True))
    assert [e["element_id"] for e in vertices["elements"]] == ["ann", "bob", "acme"]
    ids = objects.ok(objects.elements("g", type="edge", ids_only=True))
    assert ids["element_ids"] == [
        {"element_id": "e3", "type": "edge", "rev": 1},
        {"element_id": "e2", "type": "edge", "rev": 1},
        {"element_id": "e1", "type": "edge", "rev": 2},
    ]
    paged = page_through(lambda **p: objects.elements("g", **p), "elements", ascending=True, limit=4)
    assert [e["element_id"] for e in paged] == ["ann", "bob", "acme", "e1", "e2", "e3"]
    recent = objects.ok(
        objects.elements("g", updated_since=objects.ok(objects.element("g", "e3"))["updated_at"])
    )
    assert [e["element_id"] for e in recent["elements"]] == ["e1", "ann"]  # last updated first


def test_graph_neighbors_and_traversals(objects: Objects) -> None:
    objects.ok(objects.put("g", GRAPH))
    objects.ok(objects.mutate("g", PEOPLE))

    def near(**body: Any) -> tuple[list[str], list[str]]:
        page = objects.ok(objects.neighbors("g", **body))
        return [e["element_id"] for e in page["edges"]], [v["element_id"] for v in page["vertices"]]

    assert near(**{"from": ["ann"], "direction": "out"}) == (["e1", "e3"], ["bob", "acme"])
    assert near(**{"from": ["acme"], "direction": "in"}) == (["e2", "e3"], ["bob", "ann"])
    assert near(**{"from": ["bob"]}) == (["e1", "e2"], ["ann", "acme"])
    assert near(**{"from": ["ann", "bob"], "label": "works_at"}) == (["e2", "e3"], ["acme"])
    assert near(**{"from": ["bob"], "neighbor_label": "company"}) == (["e2"], ["acme"])
    first = objects.ok(objects.neighbors("g", **{"from": ["ann"], "limit": 1}))
    assert [e["element_id"] for e in first["edges"]] == ["e1"] and first["cursor"]
    rest = objects.ok(objects.neighbors("g", **{"from": ["ann"], "limit": 1, "cursor": first["cursor"]}))
    assert [e["element_id"] for e in rest["edges"]] == ["e3"]

    def run(start: list[Any], *steps: list[Any]) -> Any:
        return objects.ok(objects.query("g", {"start": start, "steps": list(steps)}))

    assert run(["V", "ann"], ["out", "knows"], ["values", "name"]) == {"results": ["Bob"], "truncated": False}
    assert run(["V"], ["hasLabel", "person"], ["count"]) == {"count": 2}
    assert run(["V"], ["out", "works_at"], ["count"]) == {"count": 1}  # a set: acme once
    assert run(["V"], ["has", "age", "gt", 26], ["project", ["name", "missing"]])["results"] == [
        {"name": "Ann", "missing": None}
    ]
    assert run(["E"], ["hasLabel", "works_at"], ["outV"], ["values", "name"])["results"] == ["Ann", "Bob"]
    assert run(["V", "bob"], ["bothE"], ["properties"])["results"] == [
        {"element_id": "e1", "props": {}},
        {"element_id": "e2", "props": {}},
    ]
    limited = run(["V"], ["limit", 2])
    assert [e["element_id"] for e in limited["results"]] == ["ann", "bob"] and limited["truncated"] is False
    removed = objects.ok(objects.mutate("g", [{"op": "delete_vertex", "element_id": "bob"}]))["elements"]
    assert {(e["element_id"], e["change"]) for e in removed} == {
        ("bob", "deleted"),
        ("e1", "deleted"),
        ("e2", "deleted"),
    }
    refused(objects.element("g", "e1"), 404, "not_found")
    assert near(**{"from": ["ann"]}) == (["e3"], ["acme"])


def test_writes_appear_in_the_session_history(acme: httpx.Client, sid: str) -> None:
    traced = httpx.Client(base_url=acme.base_url, headers={**acme.headers, "X-Request-Id": "req-obj-1"})
    with traced:
        objects = Objects(traced, sid)
        objects.ok(objects.put("log", {"type": "messages", "messages": [message("hi")]}))
        objects.ok(objects.append("log", [message("again")]))
        objects.ok(objects.put("t", THREAD))
        item = objects.ok(objects.post_item("t", text("x")), 201)
        objects.ok(objects.put("g", GRAPH))
        objects.ok(objects.mutate("g", PEOPLE[:2]))
        assert objects.delete("log").status_code == 204
        events = objects.events()
        refused(objects.mutate("g", PEOPLE[:1]), 409, "element_exists")  # refusals append nothing
        refused(objects.delete("log"), 404, "not_found")
        assert objects.events() == events
    assert [(e["type"], e["data"]["alias"]) for e in events] == [
        ("objects.object_uploaded", "log"),
        ("objects.messages_appended", "log"),
        ("objects.object_uploaded", "t"),
        ("objects.thread_item_posted", "t"),
        ("objects.object_uploaded", "g"),
        ("objects.graph_mutated", "g"),
        ("objects.object_deleted", "log"),
    ]
    assert [e["version"] for e in events] == list(range(1, 8))
    assert all(e["stream"] == sid for e in events)
    for event in events:
        assert event["metadata"] == {"actor": "acme", "adapter": "rest", "correlation_id": "req-obj-1"}
    assert events[3]["data"]["item_id"] == item["id"] and events[3]["data"]["user_id"] == "acme"
    assert [c["element_id"] for c in events[5]["data"]["changes"]] == ["ann", "bob"]
    only = acme.get(f"/api/sessions/{sid}/events", params={"type": "objects.thread_item_posted"}).json()
    assert [e["version"] for e in only["events"]] == [4]
    state = acme.get(f"/api/sessions/{sid}/state", params={"version": 6}).json()
    assert [(alias, o["envelope"]["type"]) for alias, o in state["objects"].items()] == [
        ("g", "graph"),
        ("log", "messages"),
        ("t", "thread"),
    ]
