"""History routes: a session's events (paged, by type), the namespace's log, state as of a cut-off."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

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


def test_session_history_is_the_events_with_their_summaries(
    acme: httpx.Client, globex: httpx.Client, sid: str
) -> None:
    client = DistriTs(acme)
    for i in range(3):
        client.set_session_value(sid, f"k{i}", i)
    client.delete_session_value(sid, "k0")
    DistriTs(globex).set_session_value(sid, "theirs", 1)
    events = acme.get(f"/api/sessions/{sid}/events").json()["events"]
    page = acme.get(f"/api/sessions/{sid}/history", params={"limit": 3}).json()
    assert page["next_version"] == 4
    entries = page["entries"] + acme.get(f"/api/sessions/{sid}/history?from_version=4").json()["entries"]
    assert len(entries) == len(events) == 4
    for entry, event in zip(entries, events, strict=True):
        assert set(entry) == {"version", "position", "type", "recorded_at", "metadata", "summary"}
        assert [entry[k] for k in ("version", "position", "type", "metadata")] == [
            event[k] for k in ("version", "position", "type", "metadata")
        ]
        assert datetime.fromisoformat(entry["recorded_at"]) == datetime.fromisoformat(event["recorded_at"])
    assert entries[0]["summary"].startswith('value_set key="k0", value=0')
    deleted = entries[3]["type"]
    only = acme.get(f"/api/sessions/{sid}/history", params={"type": deleted}).json()
    assert [e["version"] for e in only["entries"]] == [4] and only["next_version"] is None
    theirs = globex.get(f"/api/sessions/{sid}/history").json()["entries"]
    assert [e["metadata"]["actor"] for e in theirs] == ["globex"]


def test_chain_is_recomputed_for_any_tenant(acme: httpx.Client, globex: httpx.Client, sid: str) -> None:
    DistriTs(acme).set_session_value(sid, "k", 1)
    mine = acme.get(f"/api/sessions/{sid}/events").json()["events"][-1]["position"]
    found = acme.get("/api/chain").json()
    assert found["intact"] and found["broken_at"] is None and found["reason"] is None
    assert found["head"] >= mine and len(bytes.fromhex(found["head_hash"])) == 32
    assert globex.get("/api/chain").json()["head"] >= found["head"]  # one chain: the same log


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
    assert v1["version"] == 1 and _values(v1) == {"a": 1} and v1["user_parts"] == {}
    v2 = acme.get(f"/api/sessions/{sid}/state", params={"version": 2}).json()
    assert {name: part["value"] for name, part in v2["user_parts"].items()} == {
        "note": {"part_type": "text", "data": "hi"}
    }
    by_position = acme.get(f"/api/sessions/{sid}/state", params={"position": v2["position"]}).json()
    assert by_position["values"] == v2["values"] and by_position["version"] == 2
    then = acme.get(f"/api/sessions/{sid}/state", params={"at": middle}).json()
    assert then["version"] == 2 and then["values"]["a"]["value"] == 1
    now = acme.get(f"/api/sessions/{sid}/state", params={"version": 99}).json()
    assert now["version"] == 4 and now["values"] == {} and now["objects"] == {} and now["record"] is None
    empty = acme.get(f"/api/sessions/{sid}/state", params={"version": 0}).json()
    assert empty["version"] == 0 and empty["values"] == {}


def _values(state: dict[str, Any]) -> dict[str, Any]:
    """The live values of a state document."""
    return {key: found["value"] for key, found in state["values"].items() if not found["expired"]}


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


def test_diff_between_two_versions_and_instants(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_session_value(sid, "a", 1)
    client.set_session_value(sid, "b", 2)
    time.sleep(0.02)
    middle = datetime.now(UTC).isoformat()
    time.sleep(0.02)
    client.set_session_value(sid, "a", 3)
    client.delete_session_value(sid, "b")
    found = acme.get(f"/api/sessions/{sid}/diff", params={"a": 1, "b": 4}).json()
    assert found["session_id"] == sid and (found["before"]["version"], found["after"]["version"]) == (1, 4)
    values = found["values"]
    assert values["added"] == {} and values["removed"] == {}
    assert (values["changed"]["a"]["before"]["value"], values["changed"]["a"]["after"]["value"]) == (1, 3)
    by_instant = acme.get(f"/api/sessions/{sid}/diff", params={"a": middle, "b": "4"}).json()
    assert by_instant["before"]["version"] == 2 and set(by_instant["values"]["removed"]) == {"b"}
    backwards = acme.get(f"/api/sessions/{sid}/diff", params={"a": 4, "b": 2}).json()
    assert set(backwards["values"]["added"]) == {"b"}
    for params in ({"a": 1}, {"a": "soon", "b": 1}, {"a": "2026-01-01T00:00:00", "b": 1}, {"a": -1, "b": 1}):
        response = acme.get(f"/api/sessions/{sid}/diff", params=params)
        assert response.status_code == 400, params
        assert set(response.json()["error"]) == {"code", "message"}


def test_sessions_newest_activity_first_in_pages_and_namespace(
    acme: httpx.Client, globex: httpx.Client, sid: str
) -> None:
    client = DistriTs(acme)
    mine = [f"{sid}-{i}" for i in range(3)]
    for session in mine:
        client.set_session_value(session, "k", 1)
    DistriTs(globex).set_session_value(f"{sid}-theirs", "k", 1)
    client.set_session_value(mine[0], "k", 2)  # the oldest session is now the newest
    first = acme.get("/api/sessions", params={"limit": 2}).json()
    assert [s["session_id"] for s in first["sessions"]] == [mine[0], mine[2]]
    assert (
        first["sessions"][0]["version"] == 2 and first["next_after"] == first["sessions"][1]["last_position"]
    )
    rest = acme.get("/api/sessions", params={"limit": 1000, "after": first["next_after"]}).json()
    ids = [s["session_id"] for s in rest["sessions"]]
    assert ids[0] == mine[1] and f"{sid}-theirs" not in ids and not set(ids) & {mine[0], mine[2]}
    assert acme.get("/api/sessions", params={"after": 0}).status_code == 400


def test_concurrent_chain_requests_share_one_scan() -> None:
    """A scan reads every tenant's events: callers asking while one runs wait for it, not start more."""
    import anyio

    from session_engine.adapters.rest.history import SharedScan
    from session_engine.engine.log.chain import GENESIS, ChainCheck

    class CountingEngine:
        scans = 0

        async def verify_chain(self) -> ChainCheck:
            self.scans += 1
            await anyio.sleep(0.05)
            return ChainCheck(self.scans, GENESIS)

    async def main() -> tuple[int, list[int]]:
        shared, engine = SharedScan(), CountingEngine()
        heads: list[int] = []

        async def ask() -> None:
            heads.append((await shared.run(engine)).head)  # type: ignore[arg-type]

        async with anyio.create_task_group() as tasks:
            for _ in range(5):
                tasks.start_soon(ask)
        heads.append((await shared.run(engine)).head)  # type: ignore[arg-type]  # after: a new scan
        return engine.scans, heads

    scans, heads = anyio.run(main)
    assert scans == 2 and heads == [1, 1, 1, 1, 1, 2]
