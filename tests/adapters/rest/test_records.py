"""Session records resource routes: the nine storage:session subjects over HTTP."""

from __future__ import annotations

import httpx

from session_engine.adapters.conformance.strategies import agent
from tests.records.helpers import identity, record


def test_set_get_update_delete(acme: httpx.Client, sid: str) -> None:
    body = record(
        sid, 2000, agents=[agent("a1", sid)], title="Fix the login form", adapterSessionId=f"ad-{sid}"
    )
    assert acme.put(f"/api/records/{sid}", json=body).json() == {
        "success": True,
        "clientAccountChanged": False,
    }
    assert acme.put(f"/api/records/{sid}", params={"ifAbsent": True}, json=body).json()["success"] is False
    got = acme.get(f"/api/records/{sid}").json()
    assert (
        got["sessionId"] == sid
        and got["agents"][0]["agentId"] == "a1"
        and got["title"] == "Fix the login form"
    )
    assert acme.get(f"/api/adapter-sessions/ad-{sid}/record").json()["sessionId"] == sid
    assert acme.patch(f"/api/records/{sid}", json={"status": "closed", "executionTargetId": None}).json()[
        "success"
    ]
    assert acme.get(f"/api/records/{sid}").json()["status"] == "closed"
    changed = acme.patch(f"/api/records/{sid}", json=identity("c1", "acct-1")).json()
    assert changed == {"success": True, "clientAccountChanged": True}
    assert acme.patch("/api/records/unknown-session", json={"title": "x"}).json() == {
        "success": False,
        "clientAccountChanged": False,
    }
    assert acme.delete(f"/api/records/{sid}").json() == {"success": True}
    assert acme.delete(f"/api/records/{sid}").json() == {"success": True}  # gone either way
    missing = acme.get(f"/api/records/{sid}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_children_counts_list_and_search(acme: httpx.Client, sid: str) -> None:
    acme.put(f"/api/records/{sid}", json=record(sid, 10, title="Parent planning"))
    child = f"{sid}-child"
    acme.put(
        f"/api/records/{child}",
        json=record(child, 20, parentSessionId=sid, branchKind="fork", status="discovered"),
    )
    children = acme.get(f"/api/records/{sid}/children").json()["children"]
    assert [(c["sessionId"], c["branchKind"], c["hasChildren"]) for c in children] == [(child, "fork", False)]
    counts = acme.get("/api/record-status-counts").json()
    assert counts["all"] == sum(counts[k] for k in ("active", "archived", "closed", "discovered"))
    listed = acme.get("/api/records", params={"includePreview": True, "limit": 1000}).json()
    mine = [s["sessionId"] for s in listed["sessions"] if s["sessionId"].startswith(sid)]
    assert mine == [child, sid] and listed["total"] >= 2 and "preview" in listed["sessions"][0]
    only = acme.get("/api/records", params={"status": "discovered", "limit": 1000}).json()["sessions"]
    assert child in [s["sessionId"] for s in only] and sid not in [s["sessionId"] for s in only]
    found = acme.get("/api/records", params={"query": "planning"}).json()
    assert sid in [s["sessionId"] for s in found["sessions"]] and "preview" in found["sessions"][0]
    assert acme.get("/api/records", params={"query": "   "}).json() == {"sessions": [], "total": 0}


def test_record_errors_are_resource_shaped(acme: httpx.Client, sid: str) -> None:
    refusals = [
        acme.put(f"/api/records/{sid}", json=record("another-id")),  # sessionId mismatch
        acme.put(f"/api/records/{sid}", json={"sessionId": sid}),
        acme.put(f"/api/records/{sid}", content=b"{nope"),
        acme.patch(f"/api/records/{sid}", json=[1]),
        acme.patch(f"/api/records/{sid}", json={"title": None}),
        acme.get("/api/records", params={"status": "sleeping"}),
        acme.get("/api/records", params={"limit": 0}),
        acme.get("/api/records", params={"query": "x", "offset": 1}),
        acme.get("/api/records", params={"query": 'title:"unbalanced'}),
    ]
    for response in refusals:
        assert response.status_code == 400, response.text
        assert set(response.json()["error"]) == {"code", "message"}
