"""SQLite's connection settings: durable by default, and a WAL that is checkpointed and stays bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from session_engine.engine import Engine
from session_engine.engine.backends import WAL_CHECKPOINT_PAGES, Backend, normalise_url
from tests.databases import SqliteDatabases


def _pragmas(engine: sa.Engine, *names: str) -> dict[str, object]:
    with engine.connect() as connection:
        return {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names}


def test_the_writer_is_durable_and_checkpoints_every_ten_thousand_pages(
    sqlite_databases: SqliteDatabases,
) -> None:
    writer = Backend.for_url(sqlite_databases.fresh()).create_engine(writer=True)
    try:
        settings = _pragmas(writer, "journal_mode", "synchronous", "wal_autocheckpoint", "journal_size_limit")
    finally:
        writer.dispose()
    assert settings == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL: the WAL is synced at every commit
        "wal_autocheckpoint": WAL_CHECKPOINT_PAGES,
        "journal_size_limit": 2 * WAL_CHECKPOINT_PAGES * 4096,
    }


def test_weaker_durability_only_when_asked(sqlite_databases: SqliteDatabases) -> None:
    writer = Backend.for_url(sqlite_databases.fresh(), durability="normal").create_engine(writer=True)
    try:
        assert _pragmas(writer, "synchronous") == {"synchronous": 1}
    finally:
        writer.dispose()


def test_the_wal_is_checkpointed_and_cut_back_once_it_passes_its_threshold(
    sqlite_databases: SqliteDatabases,
) -> None:
    """With a threshold of 50 pages, thousands of pages of writes leave a WAL of at most 100 pages."""
    url = sqlite_databases.fresh()
    path = Path(normalise_url(url).database or "")
    backend = Backend.for_url(url, wal_checkpoint_pages=50)
    writer = backend.create_engine(writer=True)
    frame = 4096 + 24
    try:
        with writer.connect() as connection:
            for n in range(200):  # each commit writes ~8 pages of event data
                with connection.begin():
                    connection.exec_driver_sql(
                        "INSERT INTO events (position, namespace, stream, version, type, schema_version,"
                        " data, metadata, recorded_at) VALUES (?, 'ns', 's', ?, 'noted', 1, ?, '{}', ?)",
                        (n + 1, n + 1, "x" * 30_000, "2026-12-04T00:00:00.000000+00:00"),
                    )
                assert path.with_name(path.name + "-wal").stat().st_size <= 2 * 50 * frame + 32
            rows = connection.exec_driver_sql("SELECT count(*) FROM events").scalar()
    finally:
        writer.dispose()
    assert rows == 200


@pytest.mark.anyio
async def test_a_point_read_never_waits_for_a_lock_on_the_event_loop(
    sqlite_databases: SqliteDatabases,
) -> None:
    """SQLite point reads run on the event loop (cheaper than a thread hop), so their connection
    must never wait there: its busy timeout is 0 and a read that finds the file locked (another
    process holding it exclusively, a database that could not enter WAL mode) is sent to a worker
    thread, whose connections wait up to the usual 30 s while the loop serves everything else."""
    async with Engine.open(sqlite_databases.fresh(), migrate=False) as engine:
        await engine.values.set("ns", "s", "k", "v")
        assert await engine.lookup(busy_timeout) == 0
        assert await engine.read(busy_timeout) == 30_000
        found = await engine.values.get("ns", "s", "k")
        assert found is not None and found.value == "v"


def busy_timeout(connection: sa.Connection) -> int:
    return int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one())
