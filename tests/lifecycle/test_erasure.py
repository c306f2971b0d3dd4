"""Verifiable erasure (`specs/lifecycle.md`): a session of an encrypting namespace, once erased,
shows its events with their type, version and time but never their payloads, on every read path
(events, the log, history, state and diff, values, records, objects, export, subscriptions); its
read-model rows are gone, a rebuild agrees, the chain verifies; late writes are refused until a
recreate, which starts a new key. On SQLite neither the database file nor its WAL keeps a byte of
what was erased once `erase` returns. On both backends.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from session_engine.engine import Engine, ManualClock, NewEvent, NotFound, SessionDeleted, ValidationFailed
from session_engine.engine.erasure import ErasureNotEnabled
from session_engine.engine.inspect import kept
from session_engine.engine.log.schema import session_keys
from session_engine.engine.log.transfer import ExportScope
from tests.records.helpers import record

NS = "private"
PLAIN = "plain"
MARKER = "Zq7MarkerOfPersonalData"
ERASED = {"erased": True}
MESSAGE = {
    "type": "message",
    "message": {
        "role": "user",
        "content": [{"type": "text", "text": f"my secret is {MARKER}"}],
        "attributes": {"id": "m-1", "created_at": 1780000000000, "syntax_mode": "text"},
        "providers": [],
    },
}
pytestmark = pytest.mark.anyio


@pytest.fixture
async def engine(database_url: str, clock: ManualClock) -> AsyncIterator[Engine]:
    async with Engine.open(database_url, migrate=False, clock=clock, encrypted_namespaces=[NS]) as opened:
        yield opened


async def fill(engine: Engine, sid: str) -> None:
    """Personal data in every domain: a value (overwritten once), a record, an object, a raw event."""
    await engine.values.set(NS, sid, "name", f"old {MARKER}")
    await engine.values.set(NS, sid, "name", f"new {MARKER}")
    await engine.records.set(NS, sid, {**record(sid), "title": f"chat with {MARKER}"})
    await engine.objects.upload(NS, sid, "doc", MESSAGE)
    await engine.append(NS, sid, [NewEvent("noted", {"text": MARKER})])


def shows_no_marker(found: Any) -> None:
    text = orjson.dumps(
        found, default=lambda o: o.model_dump(mode="json") if hasattr(o, "model_dump") else str(o)
    )
    assert MARKER.encode() not in text, text[:2000]


async def test_an_erased_session_reads_as_erased_everywhere(engine: Engine) -> None:
    await fill(engine, "s")
    await fill(engine, "kept")
    before = await engine.read_stream(NS, "s")
    assert before[0].data["value"] == f"old {MARKER}"  # sealed on disk, open to reads until erased
    erased = await engine.erase(NS, "s", reason="request 7")
    assert erased.keys_destroyed == 1 and erased.rows_removed > 0

    events = await engine.read_stream(NS, "s")
    assert [(e.version, e.type, e.recorded_at) for e in events[: len(before)]] == [
        (e.version, e.type, e.recorded_at) for e in before
    ]
    assert [e.type for e in events[len(before) :]] == ["session_record_deleted", "session_erased"]
    assert all(e.data == ERASED for e in events[:-1])
    assert events[-1].data == {"reason": "request 7"} and erased.version == events[-1].version
    shows_no_marker([e.to_json() for e in await engine.read_all(namespace=NS, stream="s")])
    shows_no_marker([e.to_json() for e in await engine.read_all() if e.stream == "s"])
    shows_no_marker(await engine.history(NS, "s"))
    head = await engine.state_as_of(NS, "s", version=len(before))
    assert head.values == {} and head.record is None and head.objects == {}
    shows_no_marker(await engine.diff(NS, "s", 1, len(events)))
    shows_no_marker([state async for state in engine.states(NS, "s")])
    assert await engine.values.get(NS, "s", "name") is None
    assert await engine.records.get(NS, "s") is None
    with pytest.raises(NotFound):
        await engine.objects.download(NS, "s", "doc")
    out = io.BytesIO()
    await engine.export(out, scope=ExportScope(namespace=NS, stream="s"))
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [line["type"] for line in lines] == [e.type for e in events]  # kept, payloads sealed
    assert MARKER.encode() not in out.getvalue()
    # Each sealed event says it was erased beside its stored data (which its hash covers).
    assert [line.get("erased", False) for line in lines] == [e.type != "session_erased" for e in events]
    caught_up = []
    async for event in engine.subscribe(after=0, stream="s"):
        caught_up.append(event)
        if len(caught_up) == len(events):
            break
    shows_no_marker([e.to_json() for e in caught_up])
    page = await engine.sessions(NS)
    assert "s" in [s.session for s in page.sessions]  # the sessions list keeps its row

    # The other session is untouched, the chain verifies and a rebuild agrees with the live tables.
    assert (await engine.values.get(NS, "kept", "name")).value == f"new {MARKER}"  # type: ignore[union-attr]
    assert (await engine.read_stream(NS, "kept"))[-1].data == {"text": MARKER}
    assert (await engine.verify_chain()).ok
    assert await engine.verify() == []
    await engine.rebuild()
    assert await engine.values.get(NS, "s", "name") is None
    assert (await engine.values.get(NS, "kept", "name")).value == f"new {MARKER}"  # type: ignore[union-attr]


async def test_no_state_kept_in_memory_holds_an_erased_session(engine: Engine) -> None:
    """States read again come from memory (engine/inspect/kept.py): an erasure leaves none of the
    session's plaintext there."""
    await fill(engine, "s")
    version = len(await engine.read_stream(NS, "s"))
    await engine.take_snapshot(NS, "s", version)
    for at in (version - 1, version, version - 1, version):  # each read twice: once kept
        assert MARKER in str(await engine.state_as_of(NS, "s", version=at))
    assert any(MARKER.encode() in state for state in kept.held())
    await engine.erase(NS, "s")
    assert not any(MARKER.encode() in state for state in kept.held())


async def test_late_writes_are_refused_and_a_recreate_starts_a_new_key(engine: Engine) -> None:
    await fill(engine, "s")
    await engine.erase(NS, "s")
    version = (await engine.read_stream(NS, "s"))[-1].version
    with pytest.raises(SessionDeleted):
        await engine.values.set(NS, "s", "name", "late")
    with pytest.raises(SessionDeleted):
        await engine.append(NS, "s", [NewEvent("noted", {})], expected_version=version)
    with pytest.raises(SessionDeleted):
        await engine.objects.upload(NS, "s", "doc", MESSAGE)
    assert (await engine.read_stream(NS, "s"))[-1].version == version
    again = await engine.erase(NS, "s")  # finishes an interrupted erasure; nothing left to destroy
    assert again.keys_destroyed == 0 and again.rows_removed == 0

    await engine.values.set(NS, "s", "name", "fresh", recreate=True)
    events = await engine.read_stream(NS, "s")
    assert [e.type for e in events[-2:]] == ["session_recreated", "value_set"]
    assert events[-1].data["value"] == "fresh" and events[0].data == ERASED
    keys = await engine.read(
        lambda c: c.execute(
            sa.select(session_keys.c.since_version, session_keys.c.key).where(session_keys.c.stream == "s")
        ).all()
    )
    assert sorted((since, key is None) for since, key in keys) == [(1, True), (version + 2, False)]
    assert (await engine.verify_chain()).ok and await engine.verify() == []


async def test_erasure_is_refused_where_payloads_are_not_encrypted(engine: Engine) -> None:
    await engine.append(PLAIN, "s", [NewEvent("noted", {"text": MARKER})])
    with pytest.raises(ErasureNotEnabled) as refused:
        await engine.erase(PLAIN, "s")
    assert refused.value.code == "erasure_not_enabled" and "encrypt = true" in str(refused.value)
    assert [e.data for e in await engine.read_stream(PLAIN, "s")] == [{"text": MARKER}]
    with pytest.raises(NotFound):
        await engine.erase(NS, "never-written")


async def test_a_plain_payload_shaped_like_a_sealed_one_is_refused(engine: Engine) -> None:
    # Whatever its one value: `{"$enc": null}` is what an event sealed as bytes holds in `data`.
    for value in ("AAAA", None, 5, {"a": "b"}, ["x"]):
        with pytest.raises(ValidationFailed):
            await engine.append(PLAIN, "s", [NewEvent("noted", {"$enc": value})])
    await engine.append(PLAIN, "s", [NewEvent("noted", {"$enc": "AAAA", "other": 1})])  # not that shape
    await engine.append(PLAIN, "s", [NewEvent("noted", {"$encx": None})])
    assert [e.data for e in await engine.read_stream(PLAIN, "s")] == [
        {"$enc": "AAAA", "other": 1},
        {"$encx": None},
    ]


async def test_no_plaintext_is_left_in_the_sqlite_files(engine: Engine, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps dead tuples until VACUUM: the documented steps (specs/lifecycle.md)")
    path = Path(make_url(database_url).database or "")
    for n in range(20):  # enough rows that the session's pages are not the only ones
        await fill(engine, f"other-{n}")
    await fill(engine, "s")
    [key] = await engine.read(
        lambda c: c.execute(sa.select(session_keys.c.key).where(session_keys.c.stream == "s")).scalars().all()
    )
    # Every other session holds the marker too: erase them all, then nothing may hold it.
    for n in range(20):
        await engine.erase(NS, f"other-{n}")
    await engine.erase(NS, "s")
    files = [path, path.with_name(path.name + "-wal")]
    for file in files:
        stored = file.read_bytes() if file.exists() else b""
        assert MARKER.encode() not in stored, file
        assert bytes(key) not in stored, file
    assert (await engine.verify_chain()).ok


async def test_postgres_read_models_hold_no_row_of_an_erased_session(
    engine: Engine, database_url: str
) -> None:
    """On PostgreSQL the bytes leave the files at VACUUM (specs/lifecycle.md); no table, read
    through SQL, still returns them."""
    await fill(engine, "s")
    await engine.erase(NS, "s")

    def dump(connection: sa.Connection) -> list[str]:
        found: list[str] = []
        inspector = sa.inspect(connection)
        for name in inspector.get_table_names():
            if name.startswith("session_titles_fts"):
                continue
            rows = connection.execute(sa.text(f'SELECT * FROM "{name}"')).all()
            found.extend(name for row in rows if MARKER in str(row))
        return found

    assert await engine.read(dump) == []


async def test_payloads_stored_before_the_namespace_encrypted_are_reported(
    database_url: str, clock: ManualClock
) -> None:
    """No false pass: what was written in the clear cannot be erased by a key, and `erase` says so."""
    async with Engine.open(database_url, migrate=False, clock=clock) as plain:
        await plain.append(NS, "s", [NewEvent("noted", {"text": MARKER})])
    async with Engine.open(database_url, migrate=False, clock=clock, encrypted_namespaces=[NS]) as engine:
        await engine.append(NS, "s", [NewEvent("noted", {"text": "sealed"})])
        erased = await engine.erase(NS, "s")
        assert erased.unsealed_events == 1
        assert [e.data for e in await engine.read_stream(NS, "s")][:2] == [{"text": MARKER}, ERASED]
        await engine.append(NS, "t", [NewEvent("noted", {"text": "sealed"})])
        assert (await engine.erase(NS, "t")).unsealed_events == 0


async def test_an_export_marks_erased_events_and_imports_as_it_is(engine: Engine, tmp_path: Path) -> None:
    """The export keeps an erased event's stored (sealed) data and hash, with `"erased": true`
    beside it; another database imports it whole (the mark is the stored row's to say again) and
    reads those events as erased: keys never travel."""
    await fill(engine, "s")
    await fill(engine, "kept")
    await engine.erase(NS, "s")
    out = io.BytesIO()
    await engine.export(out)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    marked = {(line["stream"], line["version"]) for line in lines if line.get("erased")}
    erased_events = [e for e in await engine.read_stream(NS, "s") if e.type != "session_erased"]
    assert marked == {("s", e.version) for e in erased_events}
    assert all(line["data"] != ERASED for line in lines)  # the stored data, which the hash covers
    async with Engine.open(f"sqlite:///{tmp_path / 'copy.db'}", encrypted_namespaces=[NS]) as copy:
        assert await copy.import_(out.getvalue().splitlines()) == len(lines)
        assert (await copy.verify_chain()).ok
        assert all(e.data == ERASED for e in await copy.read_stream(NS, "kept"))  # no keys came along
