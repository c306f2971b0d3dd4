"""BlobHub revisions over REST: any revision id is the caller's own, scoped inside its tenant.

Writes, reads, thread items, graphs and history stay inside (tenant, revision): a tenant uses
`rev_001` and `rev_002` freely, and two tenants' `rev_001` never meet.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.samples import MESSAGE

THREAD = {"type": "thread", "thread": {"attributes": {"name": "notes"}, "metadata": {}}}
GRAPH = {"type": "graph", "graph": {"attributes": {"name": "g"}}}


def message(text: str) -> dict[str, Any]:
    return {"type": "message", "message": {**MESSAGE, "content": [{"type": "text", "text": text}]}}


def command(client: httpx.Client, revision: str, name: str, session_id: str, **fields: Any) -> httpx.Response:
    body = {"engine": "workflow_blobhub", "command": name, "session_id": session_id, **fields}
    return client.post(f"/revisions/{revision}/data", json=body)


def ok(client: httpx.Client, revision: str, name: str, session_id: str, **fields: Any) -> dict[str, Any]:
    response = command(client, revision, name, session_id, **fields)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def refused(
    client: httpx.Client, revision: str, name: str, session_id: str, status: int, error: str, **fields: Any
) -> None:
    response = command(client, revision, name, session_id, **fields)
    assert (response.status_code, response.json()["error"]) == (status, error), response.text


def text_of(envelope: dict[str, Any]) -> str:
    text: str = envelope["value"]["message"]["content"][0]["text"]
    return text


def aliases(client: httpx.Client, revision: str, sid: str) -> list[str]:
    return [o["alias"] for o in ok(client, revision, "list_session_objects", sid)["objects"]]


def test_a_tenant_uses_any_revision(acme: httpx.Client, sid: str) -> None:
    for revision in ("rev_001", "rev_002", "acme"):  # "acme": the tenant's own revision (its namespace)
        assert (
            ok(acme, revision, "upload_session_object", sid, alias="greeting", value=message(revision)) == {}
        )
    ok(acme, "rev_001", "upload_session_object", sid, alias="notes", value=THREAD)
    ok(acme, "rev_002", "upload_session_object", sid, alias="g", value=GRAPH)
    for revision in ("rev_001", "rev_002", "acme"):
        envelope = ok(acme, revision, "download_session_object", sid, alias="greeting")
        assert (envelope["revision_id"], envelope["session_id"], text_of(envelope)) == (
            revision,
            sid,
            revision,
        )
    assert aliases(acme, "rev_001", sid) == ["greeting", "notes"]
    assert aliases(acme, "rev_002", sid) == ["g", "greeting"]
    assert aliases(acme, "acme", sid) == ["greeting"]
    assert aliases(acme, "rev_003", sid) == []

    content = [{"type": "text", "text": "in rev_001"}]
    item = ok(acme, "rev_001", "post_session_thread_item", sid, alias="notes", content=content)["item"]
    assert (item["revision_id"], item["session_id"], item["user_id"]) == ("rev_001", sid, "acme")
    got = ok(acme, "rev_001", "get_session_thread_item", sid, alias="notes", item_id=item["id"])
    assert got == {"item": item}
    refused(
        acme,
        "rev_002",
        "get_session_thread_item",
        sid,
        400,
        "invalid_thread_envelope",
        alias="notes",
        item_id=item["id"],
    )

    vertex = {"op": "add_vertex", "element_id": "v1", "labels": ["person"]}
    ok(acme, "rev_002", "apply_session_graph_mutations", sid, alias="g", operations=[vertex])
    element = ok(acme, "rev_002", "get_session_graph_element", sid, alias="g", element_id="v1")["element"]
    assert element["labels"] == ["person"]
    refused(
        acme,
        "rev_001",
        "get_session_graph_element",
        sid,
        400,
        "invalid_graph_envelope",
        alias="g",
        element_id="v1",
    )

    assert ok(acme, "rev_002", "delete_session_object", sid, alias="greeting") == {}
    refused(acme, "rev_002", "download_session_object", sid, 404, "not_found", alias="greeting")
    assert text_of(ok(acme, "rev_001", "download_session_object", sid, alias="greeting")) == "rev_001"
    assert text_of(ok(acme, "acme", "download_session_object", sid, alias="greeting")) == "acme"
    # The resource routes address the tenant's own revision.
    assert text_of(acme.get(f"/api/sessions/{sid}/objects/greeting").json()) == "acme"


def test_two_tenants_rev_001_are_disjoint(acme: httpx.Client, globex: httpx.Client, sid: str) -> None:
    for client, owner in ((acme, "acme"), (globex, "globex")):
        ok(client, "rev_001", "upload_session_object", sid, alias="x", value=message(owner))
        ok(client, "rev_001", "upload_session_object", sid, alias="notes", value=THREAD)
        content = [{"type": "text", "text": owner}]
        ok(client, "rev_001", "post_session_thread_item", sid, alias="notes", content=content)
    ok(globex, "rev_001", "upload_session_object", sid, alias="only-globex", value=message("g"))
    assert aliases(acme, "rev_001", sid) == ["notes", "x"]
    assert aliases(globex, "rev_001", sid) == ["notes", "only-globex", "x"]
    for client, owner in ((acme, "acme"), (globex, "globex")):
        envelope = ok(client, "rev_001", "download_session_object", sid, alias="x")
        assert text_of(envelope) == owner and envelope["revision_id"] == "rev_001"
        items = ok(client, "rev_001", "list_session_thread_items", sid, alias="notes")["items"]
        assert [i["content"][0]["text"] for i in items] == [owner]
    refused(acme, "rev_001", "download_session_object", sid, 404, "not_found", alias="only-globex")
    ok(globex, "rev_001", "delete_session_object", sid, alias="x")
    assert text_of(ok(acme, "rev_001", "download_session_object", sid, alias="x")) == "acme"
    # Another tenant's namespace is just a revision name: acme's own "globex" revision, empty.
    assert aliases(acme, "globex", sid) == []


def events_of(client: httpx.Client, sid: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get(f"/api/sessions/{sid}/events", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def test_history_stays_in_the_tenant_and_revision(acme: httpx.Client, globex: httpx.Client, sid: str) -> None:
    ok(acme, "rev_001", "upload_session_object", sid, alias="a", value=message("1"))
    ok(acme, "rev_001", "upload_session_object", sid, alias="b", value=message("2"))
    ok(acme, "rev_002", "upload_session_object", sid, alias="c", value=message("3"))
    ok(acme, "acme", "upload_session_object", sid, alias="d", value=message("4"))
    ok(globex, "rev_001", "upload_session_object", sid, alias="e", value=message("5"))

    def aliases_in(events: list[dict[str, Any]]) -> list[str]:
        return [e["data"]["alias"] for e in events]

    assert aliases_in(events_of(acme, sid, revision_id="rev_001")) == ["a", "b"]
    assert aliases_in(events_of(acme, sid, revision_id="rev_002")) == ["c"]
    assert aliases_in(events_of(acme, sid)) == ["d"]  # the session's own stream: the tenant's revision
    assert aliases_in(events_of(acme, sid, revision_id="acme")) == ["d"]
    assert aliases_in(events_of(globex, sid, revision_id="rev_001")) == ["e"]
    assert events_of(globex, sid, revision_id="rev_002") == []
    scoped = events_of(acme, sid, revision_id="rev_001")
    assert [e["version"] for e in scoped] == [1, 2] and scoped[0]["stream"] == f"rev_001\x1f{sid}"

    log = acme.get("/api/events", params={"session_id": sid, "revision_id": "rev_001"}).json()
    assert aliases_in(log["events"]) == ["a", "b"]
    after = events_of(acme, sid, revision_id="rev_001")[0]["position"] - 1
    tenant_log = acme.get("/api/events", params={"after": after}).json()["events"]
    assert aliases_in(tenant_log) == ["a", "b", "c", "d"]  # every revision of the tenant, no other tenant's

    first = acme.get(f"/api/sessions/{sid}/state", params={"revision_id": "rev_001", "version": 1}).json()
    assert first["session_id"] == sid and first["version"] == 1
    assert list(first["objects"]) == ["a"]
    latest = acme.get(f"/api/sessions/{sid}/state", params={"revision_id": "rev_001", "version": 99}).json()
    assert list(latest["objects"]) == ["a", "b"]
    theirs = globex.get(f"/api/sessions/{sid}/state", params={"revision_id": "rev_001", "version": 99}).json()
    assert list(theirs["objects"]) == ["e"]


def last_position(client: httpx.Client) -> int:
    """The tenant's last log position (paging its log to the end)."""
    after = 0
    while True:
        page = client.get("/api/events", params={"after": after}).json()
        if page["events"]:
            after = page["events"][-1]["position"]
        if page["next_after"] is None:
            return after


def test_bad_revision_ids_are_refused_and_write_nothing(acme: httpx.Client, sid: str) -> None:
    value = message("x")
    last = last_position(acme)
    for revision, session_id in (("a%01b", sid), ("r" * 201, sid), ("r" * 150, "s" * 50)):
        # the last: a revision's session is one log stream id, the two together at most 199 characters
        refused(
            acme,
            revision,
            "upload_session_object",
            session_id,
            400,
            "invalid_session_object",
            alias="x",
            value=value,
        )
    assert acme.get("/api/events", params={"after": last}).json()["events"] == []
    assert ok(acme, "r" * 150, "upload_session_object", "s" * 49, alias="x", value=value) == {}

    bad = acme.get(f"/api/sessions/{sid}/events", params={"revision_id": "a\x01b"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_session_object"
    alone = acme.get("/api/events", params={"revision_id": "rev_001"})
    assert alone.status_code == 400 and alone.json()["error"]["code"] == "invalid_request"
    empty = acme.get(f"/api/sessions/{sid}/events", params={"revision_id": ""})
    assert empty.status_code == 400
