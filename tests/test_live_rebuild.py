"""Live rebuild: `replay` while a server keeps taking writes (specs/audit.md, "Live rebuild").

The projections are rebuilt into a scratch copy while writers go on, caught up, and swapped in
under the log lock. Every write made during it is answered, none is lost from the read models, and
`verify` is clean afterwards, on both backends. The worst write latency is printed (the bench
`bench/live_rebuild.py` measures it against the in-place rebuild); no test asserts a time.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine, NewEvent
from session_engine.engine.backends import normalise_url, sqlite_shadows
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import make_config
from tests.records.helpers import record
from tests.test_cli import cli

NS = "open"


def msg(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": [{"type": "text", "text": text}]}


async def seed(engine: Engine, filler: int) -> None:
    """Every kind of read model (values, records, objects with their search triggers), plus
    `filler` events no projection handles but every replay reads."""
    for n in range(20):
        await engine.values.set(NS, f"seed-{n % 4}", f"k{n}", n)
        await RecordSubjects(engine).set(NS, {"sessionId": f"rec-{n}", "session": record(f"rec-{n}", 10 + n)})
        await engine.objects.upload(
            NS, f"seed-{n % 4}", f"m{n}", {"type": "messages", "messages": [msg("user", f"harbour boat {n}")]}
        )
    batch = 500
    for start in range(0, filler, batch):
        events = [NewEvent("noted", {"n": start + i}) for i in range(min(batch, filler - start))]
        await engine.append(NS, f"filler-{start // 5000}", events)


class Writer(threading.Thread):
    """Writes values through the server's REST API until told to stop; times each write."""

    def __init__(self, base_url: str) -> None:
        super().__init__(daemon=True)
        self.base_url = base_url
        self.stop = threading.Event()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.written: dict[str, int] = {}

    def run(self) -> None:
        with httpx.Client(base_url=self.base_url, timeout=120) as client:
            n = 0
            while not self.stop.is_set() or n < 5:
                session, key = f"live-{n % 7}", f"w{n}"
                started = time.perf_counter()
                response = client.post(f"/v1/sessions/{session}/values", json={"key": key, "value": n})
                self.latencies.append(time.perf_counter() - started)
                if response.status_code != 204:
                    self.failures.append(f"{response.status_code} {response.text}")
                else:
                    self.written[f"{session}/{key}"] = n
                n += 1


def test_replay_under_a_serving_writer_loses_nothing_and_verifies(database_url: str) -> None:
    async def prepare() -> None:
        async with Engine.open(database_url, migrate=False) as engine:
            await seed(engine, 30_000)

    anyio.run(prepare)
    with running_server(database_url, make_config(anonymous=True), migrate=False) as base_url:
        writer = Writer(base_url)
        writer.start()
        while len(writer.latencies) < 5:
            time.sleep(0.01)
        replayed = cli("replay", url=database_url)
        writer.stop.set()
        writer.join(timeout=120)
        assert not writer.is_alive()
        assert replayed.returncode == 0, replayed.stderr
        assert "swapped in" in replayed.stdout
        assert writer.failures == []
        with httpx.Client(base_url=base_url, timeout=30) as client:
            for name, value in writer.written.items():
                session, key = name.split("/")
                got = client.get(f"/v1/sessions/{session}/values/{key}")
                assert got.json() == {"value": value}, name
    print(
        f"\n{len(writer.latencies)} writes during replay; worst {max(writer.latencies) * 1000:.1f} ms;"
        f" {replayed.stdout.strip()}"
    )
    verified = cli("verify", url=database_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.anyio
@pytest.mark.parametrize("locked_tail", [0, 10_000_000])
async def test_writes_during_a_rebuild_are_caught_up(database_url: str, locked_tail: int) -> None:
    """Writers in the same process: events written while the copy is built are caught up, lock-free
    (`locked_tail` 0) or all under the lock; the result is what a fresh replay gives."""
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 5_000)
        done = anyio.Event()
        written = 0

        async def write() -> None:
            nonlocal written
            while not done.is_set() or written < 50:
                await engine.values.set(NS, f"during-{written % 3}", f"k{written}", written)
                await RecordSubjects(engine).set(
                    NS, {"sessionId": f"during-{written}", "session": record(f"during-{written}", written)}
                )
                written += 1

        async with anyio.create_task_group() as group:
            group.start_soon(write)
            result = await engine.rebuild_live(locked_tail=locked_tail)
            done.set()
        assert result.upto <= await engine.head()
        assert result.locked <= result.caught_up
        assert await engine.verify() == []
        values = await engine.values.get_all(NS, "during-0")
        assert values == {f"k{n}": n for n in range(0, written, 3)}
        assert (await engine.verify_chain()).ok


def sqlite_schema(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
    """The live file's schema (every table, index, trigger and full-text index, by name and SQL),
    its planner statistics and its integrity check."""
    path = make_url(url).database
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as connection:
        schema = connection.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        analyzed = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone()
        stats = sorted(connection.execute("SELECT tbl, idx, stat FROM sqlite_stat1")) if analyzed else []
        (integrity,) = connection.execute("PRAGMA integrity_check").fetchone()
    return schema, stats, integrity


def live_schema(url: str, backend: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], str]:
    """`sqlite_schema`, or PostgreSQL's tables, indexes and triggers in the live schema by name and
    definition (no statistics, no integrity check: "")."""
    if backend == "sqlite":
        return sqlite_schema(url)
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            schema = [
                *connection.exec_driver_sql(
                    "SELECT 'table', tablename, tablename, '' FROM pg_tables WHERE schemaname = 'public'"
                ),
                *connection.exec_driver_sql(
                    "SELECT 'index', indexname, tablename, indexdef FROM pg_indexes"
                    " WHERE schemaname = 'public'"
                ),
                *connection.exec_driver_sql(
                    "SELECT 'trigger', t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE NOT t.tgisinternal AND n.nspname = 'public'"
                ),
            ]
    finally:
        engine.dispose()
    return sorted(tuple(row) for row in schema), [], ""


@pytest.mark.anyio
@pytest.mark.parametrize("names", [None, ["records"], ["values"]])
async def test_a_rename_swap_leaves_the_live_schema_as_migrated(
    database_url: str, backend: str, names: list[str] | None
) -> None:
    """The rebuilt tables are swapped in by renaming: afterwards every table, index, trigger and
    full-text index is the migrated one under its own name (nothing of the rebuild left), SQLite's
    planner keeps its statistics and the file is sound, searches answer as before and the
    triggers keep working for new writes. Records' triggers keep objects' term index, so
    rebuilding records rebuilds objects with them (and says so)."""
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 2_000)
        if backend == "sqlite":
            with contextlib.closing(sqlite3.connect(str(make_url(database_url).database))) as connection:
                connection.execute("ANALYZE")
        before = live_schema(database_url, backend)
        found = await engine.objects.search_messages(NS, "harbour")
        assert found

        done = await engine.rebuild_live(names)

        rebuilt = {
            None: ["values", "records", "objects"],
            "records": ["records", "objects"],
            "values": ["values"],
        }
        assert done.projections == rebuilt[names[0] if names else None]
        after = live_schema(database_url, backend)
        assert set(after[0]) - set(before[0]) == set()
        assert set(before[0]) - set(after[0]) == set()
        assert set(after[1]) ^ set(before[1]) == set()
        assert after == before
        assert before[2] in ("ok", "")
        assert await engine.objects.search_messages(NS, "harbour") == found
        await engine.objects.upload(
            NS, "after", "m", {"type": "messages", "messages": [msg("user", "harbour lighthouse")]}
        )
        await RecordSubjects(engine).set(NS, {"sessionId": "after", "session": record("after", 99)})
        hits = await engine.objects.search_messages(NS, "lighthouse")
        assert [hit.session_id for hit in hits] == ["after"]
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_rebuild_cut_short_leaves_nothing_behind(database_url: str, backend: str) -> None:
    """A rebuild cancelled while it fills the shadows drops them; what a killed one left (shadow
    and replaced tables, their triggers) the next rebuild drops before it starts."""
    if backend != "sqlite":
        pytest.skip("shadows are SQLite's: PostgreSQL's copy is a scratch schema, dropped whatever happens")
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 100)
        before = sqlite_schema(database_url)
        for delay in (0, 0.05, 0.1, 0.2, 0.4):  # cut short at different steps
            with anyio.move_on_after(delay):
                await engine.rebuild_live()
            assert sqlite_schema(database_url) == before
        path = str(make_url(database_url).database)
        with contextlib.closing(sqlite3.connect(path)) as connection:
            connection.executescript(
                'CREATE TABLE "value_entries__rebuilt" (x);'
                'CREATE TABLE "messages__replaced" (id INTEGER PRIMARY KEY, text);'
                'CREATE TRIGGER "t__rebuilt" AFTER INSERT ON "messages__replaced" BEGIN SELECT 1; END;'
            )
        await engine.rebuild_live()
        assert sqlite_schema(database_url) == before
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_copy_batch_that_fails_leaves_the_writer_as_it_was(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch of the copy into the shadows runs with the scratch file attached to the writer
    connection. One that fails there (here a trigger stops it halfway) detaches it all the same:
    the shadows go, writes go on, and the next rebuild, which attaches its own scratch under the
    same name, runs and verifies."""
    if backend != "sqlite":
        pytest.skip("shadows are SQLite's: PostgreSQL's copy is a scratch schema")
    prepare = sqlite_shadows.SqliteShadows.prepare

    def prepare_a_stop(self: sqlite_shadows.SqliteShadows, connection: Any) -> None:
        prepare(self, connection)
        connection.exec_driver_sql(  # named as a shadow's, so the rebuild's clean-up drops it
            'CREATE TRIGGER "stop__rebuilt" BEFORE INSERT ON "value_entries__rebuilt"'
            ' WHEN (SELECT count(*) FROM "value_entries__rebuilt") >= 7'
            " BEGIN SELECT RAISE(ABORT, 'the copy stops here'); END"
        )

    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 100)
        before = sqlite_schema(database_url)
        monkeypatch.setattr(sqlite_shadows.SqliteShadows, "prepare", prepare_a_stop)
        with pytest.raises(sa.exc.DBAPIError, match="the copy stops here"):
            await engine.rebuild_live()
        monkeypatch.setattr(sqlite_shadows.SqliteShadows, "prepare", prepare)
        assert sqlite_schema(database_url) == before
        await engine.values.set(NS, "after", "k", 1)
        await engine.rebuild_live()
        assert (await engine.values.get(NS, "after", "k")).value == 1
        assert await engine.verify() == []


def _leftover(row: tuple[Any, ...]) -> bool:
    """A schema row of a replaced table (or its index, or a full-text index's own table)."""
    return "__replaced" in row[1] or "__replaced" in row[2]


@pytest.mark.anyio
async def test_a_drop_cut_short_between_batches_leaves_the_live_tables_whole(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the swap the replaced tables are emptied a batch of rows per job, then dropped. A
    rebuild stopped between two of those batches (an exception there; a process dying there leaves
    the same) has swapped already: the live tables are the rebuilt ones, whole - searches, verify,
    new writes - while the half-emptied replaced tables stay; the next rebuild, after a restart,
    removes them and leaves the schema as migrated."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL drops the replaced tables with the scratch schema: no batches to cut short")
    monkeypatch.setattr(sqlite_shadows, "DROP_ROWS", 7)
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 100)
        before = sqlite_schema(database_url)
        found = await engine.objects.search_messages(NS, "harbour")
        assert found
        done = 0
        discard = sqlite_shadows.SqliteShadows.discard

        def dies_after_three_batches(self: sqlite_shadows.SqliteShadows, connection: Any) -> bool:
            nonlocal done
            if done == 3:
                raise RuntimeError("the process stops here")
            more = discard(self, connection)
            done += more
            return more

        monkeypatch.setattr(sqlite_shadows.SqliteShadows, "discard", dies_after_three_batches)
        with pytest.raises(RuntimeError, match="the process stops here"):
            await engine.rebuild_live()
        monkeypatch.setattr(sqlite_shadows.SqliteShadows, "discard", discard)

    cut = sqlite_schema(database_url)
    assert any(_leftover(row) for row in cut[0])
    assert [row for row in cut[0] if not _leftover(row)] == before[0]
    assert cut[2] == "ok"
    async with Engine.open(database_url, migrate=False) as engine:
        assert await engine.verify() == []
        assert await engine.objects.search_messages(NS, "harbour") == found
        await engine.objects.upload(
            NS, "after", "m", {"type": "messages", "messages": [msg("user", "harbour lighthouse")]}
        )
        assert [hit.session_id for hit in await engine.objects.search_messages(NS, "lighthouse")] == ["after"]
        await engine.rebuild_live()
        assert sqlite_schema(database_url) == before
        assert await engine.verify() == []
        assert [hit.session_id for hit in await engine.objects.search_messages(NS, "lighthouse")] == ["after"]


@pytest.mark.anyio
async def test_other_connections_read_the_swapped_tables_and_never_half_of_them(
    database_url: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read models damaged behind the engine's back (a value's row deleted; on SQLite a message's
    full-text entry too) are repaired by a live rebuild. A connection of another client that read
    the damaged tables before (its schema, statements and full-text index cached) reads the
    repaired ones from the swap's commit on, without reconnecting (on SQLite, before the replaced
    tables are emptied and dropped: read through a stale schema, they would be half gone); on
    SQLite, one whose read transaction spans the whole rebuild keeps seeing the state it began
    with - every table and the full-text index alike, never half of the swap - until it ends it,
    then the repaired state."""
    queries = ["SELECT count(*) FROM value_entries"]
    damage = ["DELETE FROM value_entries WHERE rowid = (SELECT min(rowid) FROM value_entries)"]
    if backend == "sqlite":
        queries.append("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'harbour'")
        damage.append(
            "INSERT INTO messages_fts(messages_fts, rowid, text)"
            " SELECT 'delete', id, text FROM messages WHERE id = (SELECT min(id) FROM messages)"
        )
    else:
        damage[0] = "DELETE FROM value_entries WHERE ctid = (SELECT min(ctid) FROM value_entries)"
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 100)
        with contextlib.ExitStack() as stack:
            if backend == "sqlite":
                path = str(make_url(database_url).database)
                options = {"isolation_level": None, "check_same_thread": False}
                reader, spanning = (
                    stack.enter_context(contextlib.closing(sqlite3.connect(path, **options)))  # type: ignore[arg-type]
                    for _ in range(2)
                )
            else:
                reader = stack.enter_context(sa.create_engine(normalise_url(database_url)).connect())

            def run(connection: Any, statements: list[str]) -> list[Any]:
                if backend == "sqlite":
                    return [connection.execute(sql).fetchone() for sql in statements]
                results = [connection.exec_driver_sql(sql) for sql in statements]
                connection.commit()
                return [result.first() if result.returns_rows else None for result in results]

            def counts(connection: Any) -> list[int]:
                return [row[0] for row in run(connection, queries)]

            whole = counts(reader)
            assert all(count > 1 for count in whole)
            run(reader, damage)
            damaged = [count - 1 for count in whole]
            assert counts(reader) == damaged
            if backend == "sqlite":
                spanning.execute("BEGIN")
                assert counts(spanning) == damaged

            swapped: list[list[int]] = []
            discard, swap = sqlite_shadows.SqliteShadows.discard, sqlite_shadows.SqliteShadows.swap

            def read_once_swapped(self: sqlite_shadows.SqliteShadows, connection: Any) -> bool:
                if self.swapped and len(swapped) == 1:  # committed, no replaced row gone yet
                    swapped.append(counts(reader))
                return discard(self, connection)

            def swap_and_say(self: sqlite_shadows.SqliteShadows, connection: Any) -> None:
                swapped.append(counts(reader))  # the schema as it is once the shadows are full
                swap(self, connection)
                self.swapped = True  # type: ignore[attr-defined]

            monkeypatch.setattr(sqlite_shadows.SqliteShadows, "swapped", False, raising=False)
            monkeypatch.setattr(sqlite_shadows.SqliteShadows, "discard", read_once_swapped)
            monkeypatch.setattr(sqlite_shadows.SqliteShadows, "swap", swap_and_say)
            await engine.rebuild_live(["values", "objects"])

            assert counts(reader) == whole
            if backend == "sqlite":
                assert swapped == [damaged, whole]
                assert counts(spanning) == damaged
                spanning.execute("COMMIT")
                assert counts(spanning) == whole
            else:  # the replaced tables went with the scratch schema
                schemas = reader.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars().all()
                assert not [name for name in schemas if name.startswith("scratch_")]
        assert await engine.verify() == []
        if backend == "sqlite":
            assert sqlite_schema(database_url)[2] == "ok"


@pytest.mark.anyio
async def test_a_view_on_a_read_model_reads_the_rebuilt_table_or_the_swap_is_refused(
    database_url: str, backend: str
) -> None:
    """An application's view on a read model: SQLite names tables by name, so the view reads the
    rebuilt table after the swap. PostgreSQL binds a view to the table itself, which the swap
    moves out of the live schema to drop it: the rebuild is refused with the view named, before
    it replays anything, and nothing changes (no scratch or replaced schema left)."""
    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 100)
        db = sa.create_engine(normalise_url(database_url))
        try:
            with db.begin() as connection:
                connection.exec_driver_sql("CREATE VIEW value_count AS SELECT count(*) n FROM value_entries")
                count = connection.exec_driver_sql("SELECT n FROM value_count").scalar_one()
            before = live_schema(database_url, backend)
            if backend == "sqlite":
                await engine.rebuild_live(["values"])
            else:
                replayed: list[int] = []
                with pytest.raises(ValueError, match="view value_count depends on them"):
                    await engine.rebuild_live(["values"], progress=replayed.append)
                assert replayed == []  # refused up front, not after the whole replay
                assert live_schema(database_url, backend) == before
            with db.begin() as connection:
                assert connection.exec_driver_sql("SELECT n FROM value_count").scalar_one() == count
                if backend != "sqlite":
                    schemas = connection.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars()
                    assert not [name for name in schemas if name.startswith("scratch_")]
        finally:
            with db.begin() as connection:  # the test databases are reused
                connection.exec_driver_sql("DROP VIEW IF EXISTS value_count")
            db.dispose()
        await engine.values.set(NS, "after", "k", 1)
        assert await engine.verify() == []


@pytest.mark.anyio
async def test_a_copy_going_live_through_shadows_fills_no_full_text_index_of_its_own(
    database_url: str, backend: str
) -> None:
    """SQLite's copy goes live through shadows, whose cloned triggers fill their own full-text
    indexes: the copy's are never read, so its replay neither fills them nor keeps their triggers,
    in the catch-up too (which deletes the messages that re-uploads replaced meanwhile). Search
    answers from the swapped tables all the same, for messages written before and during it."""
    if backend != "sqlite":
        pytest.skip("shadows are SQLite's: PostgreSQL's copy is a scratch schema, moved in with its indexes")
    statements: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with Engine.open(database_url, migrate=False) as engine:
        await seed(engine, 2_000)
        done = anyio.Event()
        uploads = 0

        async def write() -> None:
            nonlocal uploads
            while not done.is_set() or uploads < 3:  # each re-upload deletes the last one's message
                messages = [msg("user", f"lighthouse {uploads}")]
                await engine.objects.upload(NS, "during", "m", {"type": "messages", "messages": messages})
                uploads += 1

        sa.event.listen(sa.Engine, "before_cursor_execute", note)
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(write)
                await engine.rebuild_live(locked_tail=0)
                done.set()
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", note)
        assert [s for s in statements if "VALUES ('rebuild')" in s or "VALUES ('delete-all')" in s] == []
        assert await engine.verify() == []
        assert len(await engine.objects.search_messages(NS, "harbour")) == 20
        hits = await engine.objects.search_messages(NS, "lighthouse")
        assert [hit.text for hit in hits] == [f"lighthouse {uploads - 1}"]
    path = make_url(database_url).database
    assert path is not None
    with contextlib.closing(sqlite3.connect(path)) as connection:
        for index in ("messages_fts", "session_titles_fts"):  # raises if an index and its rows differ
            connection.execute(f"INSERT INTO {index}({index}) VALUES ('integrity-check')")
