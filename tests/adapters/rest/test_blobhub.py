"""The BlobHub command endpoint over HTTP: every command, every named error, its HTTP status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from session_engine.adapters.blobhub.commands import NAMES as COMMANDS
from tests.adapters.rest.conftest import ACME_KEY, bearer
from tests.adapters.samples import MESSAGE

REV = "acme"  # the acme tenant's own revision (its namespace)


class BlobHub:
    def __init__(self, http: httpx.Client, session_id: str, route: str = "data") -> None:
        self.http, self.session_id, self.route = http, session_id, route

    def raw(self, command: str, route: str | None = None, **fields: Any) -> httpx.Response:
        body = {"engine": "workflow_blobhub", "command": command, "session_id": self.session_id, **fields}
        return self.http.post(f"/revisions/{REV}/{route or self.route}", json=body)

    def __call__(self, command: str, **fields: Any) -> dict[str, Any]:
        response = self.raw(command, **fields)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def refused(self, command: str, status: int, error: str, **fields: Any) -> str:
        response = self.raw(command, **fields)
        assert (response.status_code, response.json()["error"]) == (status, error), response.text
        message: str = response.json()["message"]
        return message


@pytest.fixture
def hub(sqlite_base: str, sid: str) -> Iterator[BlobHub]:
    with httpx.Client(base_url=sqlite_base, headers=bearer(ACME_KEY), timeout=30) as client:
        yield BlobHub(client, sid)


seen: set[str] = set()


@pytest.fixture(autouse=True, scope="module")
def every_command_is_covered() -> Iterator[None]:
    yield
    assert seen >= COMMANDS, f"not exercised: {sorted(COMMANDS - seen)}"


def run(hub: BlobHub, command: str, **fields: Any) -> dict[str, Any]:
    seen.add(command)
    return hub(command, **fields)


def test_envelopes(hub: BlobHub) -> None:
    assert (
        run(hub, "upload_session_object", alias="greeting", value={"type": "message", "message": MESSAGE})
        == {}
    )
    envelope = run(hub, "download_session_object", alias="greeting")
    assert envelope["revision_id"] == REV and envelope["session_id"] == hub.session_id
    assert envelope["alias"] == "greeting" and envelope["value"]["message"]["content"] == MESSAGE["content"]
    assert envelope["updated_at"].endswith("+00:00")
    run(hub, "upload_session_object", alias="log", value={"type": "messages", "messages": [MESSAGE]})
    appended = run(hub, "append_session_messages", alias="log", messages=[MESSAGE, MESSAGE])
    assert appended["count"] == 2
    assert len(run(hub, "download_session_object", alias="log")["value"]["messages"]) == 3
    listing = run(hub, "list_session_objects")
    assert [(o["alias"], o["type"]) for o in listing["objects"]] == [
        ("greeting", "message"),
        ("log", "messages"),
    ]
    page = run(hub, "list_session_objects", limit=1)
    assert (
        len(page["objects"]) == 1
        and run(hub, "list_session_objects", cursor=page["cursor"])["objects"][0]["alias"] == "log"
    )
    assert run(hub, "delete_session_object", alias="greeting") == {}
    hub.refused("download_session_object", 404, "not_found", alias="greeting")
    hub.refused("delete_session_object", 404, "not_found", alias="greeting")


def test_thread_items(hub: BlobHub) -> None:
    run(
        hub,
        "upload_session_object",
        alias="t",
        value={"type": "thread", "thread": {"attributes": {"name": "T"}}},
    )
    posted = [
        run(
            hub,
            "post_session_thread_item",
            alias="t",
            content=[{"type": "text", "text": f"#{i}"}],
            metadata={"type": "text"},
        )["item"]
        for i in range(3)
    ]
    assert posted[0]["user_id"] == "acme" and posted[0]["metadata"] == {"type": "text"}
    newest = run(hub, "list_session_thread_items", alias="t")["items"]
    assert [i["id"] for i in newest] == [p["id"] for p in reversed(posted)]
    page = run(hub, "list_session_thread_items", alias="t", ascending=True, limit=2)
    rest = run(hub, "list_session_thread_items", alias="t", ascending=True, limit=2, cursor=page["cursor"])
    assert [i["id"] for i in page["items"] + rest["items"]] == [p["id"] for p in posted]
    assert run(hub, "get_session_thread_item", alias="t", item_id=posted[1]["id"])["item"] == posted[1]
    hub.refused("get_session_thread_item", 404, "not_found", alias="t", item_id="nope")
    hub.refused(
        "post_session_thread_item",
        400,
        "invalid_thread_envelope",
        alias="missing",
        content=[{"type": "text", "text": "x"}],
    )
    hub.refused("post_session_thread_item", 400, "invalid_thread_item", alias="t", content=[])
    hub.refused(
        "post_session_thread_item",
        413,
        "thread_item_too_large",
        alias="t",
        content=[{"type": "text", "text": "x" * 70_000}],
    )
    hub.refused("list_session_thread_items", 400, "invalid_cursor", alias="t", cursor="garbage!")


def test_graph(hub: BlobHub) -> None:
    run(hub, "upload_session_object", alias="g", value={"type": "graph", "graph": {"attributes": {}}})
    ops = [
        {"op": "add_vertex", "element_id": "ann", "labels": ["person"], "props": {"age": 31, "name": "Ann"}},
        {"op": "add_vertex", "element_id": "bob", "labels": ["person"], "props": {"age": 25, "name": "Bob"}},
        {"op": "add_edge", "element_id": "e1", "label": "knows", "from_id": "ann", "to_id": "bob"},
    ]
    changed = run(hub, "apply_session_graph_mutations", alias="g", operations=ops)["elements"]
    assert [(e["element_id"], e["rev"]) for e in changed] == [("ann", 1), ("bob", 1), ("e1", 1)]
    ann = run(hub, "get_session_graph_element", alias="g", element_id="ann")["element"]
    assert ann["labels"] == ["person"] and ann["user_id"] == "acme"
    many = run(hub, "get_session_graph_elements", alias="g", element_ids=["e1", "zed", "ann"])["elements"]
    assert [e["element_id"] for e in many] == ["e1", "ann"]
    listed = run(hub, "list_session_graph_elements", alias="g", type="vertex", ids_only=True)
    assert {e["element_id"] for e in listed["element_ids"]} == {"ann", "bob"}
    near = run(hub, "list_session_graph_neighbors", alias="g", **{"from": ["bob"]})
    assert [e["element_id"] for e in near["edges"]] == ["e1"] and [
        v["element_id"] for v in near["vertices"]
    ] == ["ann"]
    query = {"start": ["V", "ann"], "steps": [["out", "knows"], ["values", "name"]]}
    assert run(hub, "query_session_graph", alias="g", query=query) == {"results": ["Bob"], "truncated": False}
    hub.refused("get_session_graph_element", 404, "not_found", alias="g", element_id="zed")
    hub.refused(
        "apply_session_graph_mutations",
        409,
        "rev_mismatch",
        alias="g",
        operations=[{"op": "set_vertex_props", "element_id": "ann", "props": {}, "if_rev": 7}],
    )
    hub.refused(
        "apply_session_graph_mutations",
        409,
        "element_exists",
        alias="g",
        operations=[{"op": "add_vertex", "element_id": "bob", "labels": ["p"]}],
    )
    hub.refused(
        "apply_session_graph_mutations",
        400,
        "invalid_graph_operation",
        alias="g",
        operations=[{"op": "rename"}],
    )
    hub.refused(
        "apply_session_graph_mutations",
        404,
        "not_found",
        alias="g",
        operations=[{"op": "delete_vertex", "element_id": "zed"}],
    )
    too_many = [{"op": "add_vertex", "labels": ["x"]}] * 1001
    hub.refused("apply_session_graph_mutations", 413, "too_many_operations", alias="g", operations=too_many)
    hub.refused("apply_session_graph_mutations", 400, "invalid_graph_envelope", alias="nope", operations=ops)
    hub.refused(
        "query_session_graph", 400, "invalid_graph_query", alias="g", query={"start": ["X"], "steps": []}
    )
    hub.refused(
        "list_session_graph_neighbors",
        400,
        "invalid_cursor",
        alias="g",
        cursor="garbage!",
        **{"from": ["ann"]},
    )
    assert run(hub, "get_session_graph_element", alias="g", element_id="ann")["element"]["rev"] == 1


def test_named_input_errors(hub: BlobHub) -> None:
    hub.refused("upload_session_object", 400, "unknown_object_type", alias="x", value={"type": "video"})
    hub.refused("upload_session_object", 400, "invalid_session_object", alias="x", value={"type": "message"})
    hub.refused("upload_session_object", 400, "invalid_session_object", alias="x", value=None)
    hub.refused(
        "append_session_messages", 400, "invalid_messages_envelope", alias="absent", messages=[MESSAGE]
    )
    assert "known:" in hub.refused("no_such_command", 400, "unknown_command")
    hub.refused("download_session_object", 400, "invalid_request")  # alias missing
    hub.refused("get_session_graph_elements", 400, "invalid_request", alias="g", element_ids="ann")
    response = hub.http.post(f"/revisions/{REV}/data", content=b"{oops")
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    response = hub.http.post(f"/revisions/{REV}/data", json=[1])
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_routes_query_and_command(hub: BlobHub) -> None:
    value = {"type": "thread", "thread": {}}
    assert hub.raw("upload_session_object", route="data/command", alias="t", value=value).status_code == 200
    assert hub.raw("download_session_object", route="data/query", alias="t").status_code == 200
    refused = hub.raw("delete_session_object", route="data/query", alias="t")
    assert refused.status_code == 400 and refused.json()["error"] == "unknown_command"


def test_any_revision_is_the_callers_own(sqlite_base: str, sid: str) -> None:
    """Not a 403: `globex` is one of acme's own revisions here (test_revisions.py has the rest)."""
    body = {"command": "list_session_objects", "session_id": sid}
    with httpx.Client(base_url=sqlite_base, headers=bearer(ACME_KEY)) as client:
        response = client.post("/revisions/globex/data", json=body)
        assert response.status_code == 200 and response.json() == {"objects": [], "cursor": None}
    with httpx.Client(base_url=sqlite_base, headers=bearer("not-a-real-key")) as client:
        response = client.post(f"/revisions/{REV}/data", json=body)
        assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    missing = httpx.get(f"{sqlite_base}/revisions/{REV}/data")
    assert missing.status_code == 405 and set(missing.json()) == {"error", "message"}
