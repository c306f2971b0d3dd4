"""History routes: a session's events (paged, by type), the namespace's log, state as of a cut-off."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from tests.adapters.rest.clients import DistriTs


def test_session_events_paged_and_filtered(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    for i in range(5):
        client.set_session_value(sid, f"k{i}", i)
    client.delete_session_value(sid, "k0")
    page = acme.get(f"/api/sessions/{sid}/events", params={"limit": 2}).json()
    assert [e["version"] for e in page["events"]] == [1, 2] and page["next_version"] == 3
    seen = list(page["events"])
    while page["next_version"] is not None:
        page = acme.get(
            f"/api/sessions/{sid}/events", params={"limit": 2, "from_version": page["next_version"]}
        ).json()
        seen += page["events"]
    assert [e["version"] for e in seen] == [1, 2, 3, 4, 5, 6]
    first = seen[0]
    assert first["stream"] == sid and first["data"]["key"] == "k0" and first["metadata"]["adapter"] == "rest"
    assert first["metadata"]["actor"] == "acme" and datetime.fromisoformat(first["recorded_at"]).tzinfo
    kinds = {e["type"] for e in seen}
    deletes = [t for t in kinds if "delet" in t.lower()]
    assert deletes, kinds
    only = acme.get(f"/api/sessions/{sid}/events", params={"type": deletes}).json()["events"]
    assert [e["version"] for e in only] == [6]
    assert acme.get("/api/sessions/never/events").json() == {"events": [], "next_version": None}


def test_log_from_a_position_stays_in_the_namespace(
    acme: httpx.Client, globex: httpx.Client, sid: str
) -> None:
    DistriTs(globex).set_session_value(sid, "theirs", 1)
    start = acme.get("/api/events", params={"limit": 1000}).json()
    after = start["events"][-1]["position"] if start["events"] else 0
    for i in range(3):
        DistriTs(acme).set_session_value(sid, "mine", i)
        DistriTs(globex).set_session_value(sid, "theirs", i)
    page = acme.get("/api/events", params={"after": after, "limit": 2}).json()
    assert len(page["events"]) == 2 and page["next_after"] == page["events"][-1]["position"]
    rest = acme.get("/api/events", params={"after": page["next_after"]}).json()
    events = page["events"] + rest["events"]
    assert [e["data"].get("value") for e in events] == [0, 1, 2] and rest["next_after"] is None
    assert all(e["data"]["key"] == "mine" for e in events)
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    filtered = acme.get("/api/events", params={"after": after, "session_id": "other"}).json()
    assert filtered["events"] == []


def test_state_as_of_version_position_and_instant(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_session_value(sid, "a", 1)
    client.set_user_part_text(sid, "note", "hi")
    time.sleep(0.02)
    middle = datetime.now(UTC).isoformat()
    time.sleep(0.02)
    client.set_session_value(sid, "a", 2)
    client.clear_session(sid)
    v1 = acme.get(f"/api/sessions/{sid}/state", params={"version": 1}).json()
    assert v1["version"] == 1 and v1["values"] == {"a": 1} and v1["user_parts"] == []
    v2 = acme.get(f"/api/sessions/{sid}/state", params={"version": 2}).json()
    assert v2["user_parts"] == [{"part_type": "text", "data": "hi"}]
    by_position = acme.get(f"/api/sessions/{sid}/state", params={"position": v2["position"]}).json()
    assert by_position["values"] == v2["values"] and by_position["version"] == 2
    then = acme.get(f"/api/sessions/{sid}/state", params={"at": middle}).json()
    assert then["version"] == 2 and then["values"]["a"] == 1
    now = acme.get(f"/api/sessions/{sid}/state", params={"version": 99}).json()
    assert now["version"] == 4 and now["values"] == {} and "tables" in now
    empty = acme.get(f"/api/sessions/{sid}/state", params={"version": 0}).json()
    assert empty["version"] == 0 and empty["values"] == {}


def test_state_needs_exactly_one_cut_off(acme: httpx.Client, sid: str) -> None:
    for params in (
        {},
        {"version": 1, "position": 1},
        {"at": "2026-01-01T00:00:00"},
        {"at": "soon"},
        {"version": -1},
    ):
        response = acme.get(f"/api/sessions/{sid}/state", params=params)
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
