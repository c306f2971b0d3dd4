"""Sealed payloads stored as bytes (migration 0015, engine/log/sealing.py, specs/lifecycle.md): a log
sealed before it (base64 text in `data`) goes through the migration untouched - the same stored
rows, the same hashes, `verify` clean, every event opening as before - and carries on in the new
form: new events read, verify, export, import and erase beside the old ones. On both backends.

`data/sealed_base64_log.jsonl` was written by the code before 0015 (commit af5d95d): its first line
holds the session keys as that database stored them, the rest is that log's own export (sessions
alice and bob sealed, carol sealed then erased, one plain event).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import sqlalchemy as sa
from alembic import command

from session_engine.engine import Engine, NewEvent, migrate
from session_engine.engine.backends import Backend
from session_engine.engine.log.chain import stored_rows
from session_engine.engine.log.gaps import RETENTION_STREAM
from session_engine.engine.log.schema import events, session_keys
from session_engine.engine.log.transfer import parse_line
from session_engine.engine.retention.policy import RetentionPolicy
from session_engine.engine.upgrade import alembic_config
from tests.databases import PostgresDatabases, empty_postgres_database

pytestmark = pytest.mark.anyio

NS = "private"
GOLDEN = Path(__file__).parent / "data" / "sealed_base64_log.jsonl"
OLD_PAYLOADS = {
    ("alice", 2): {"text": "secret é\x00✓", "n": 1},
    ("alice", 3): {"text": "x" * 2000, "n": 2},
    ("bob", 1): {"text": "bob's"},
}


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of its own (this test migrates it down and up again), on the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")  # skips if unreachable
    assert databases.url
    with empty_postgres_database() as url:
        yield url


def golden() -> tuple[list[dict[str, Any]], list[bytes]]:
    first, *lines = GOLDEN.read_bytes().splitlines()
    return orjson.loads(first)["keys"], lines


def on_writer(url: str, work: Callable[[sa.Connection], Any]) -> Any:
    engine = Backend.for_url(url).create_engine(writer=True)
    try:
        with engine.connect() as connection:
            found = work(connection)
            connection.commit()
            return found
    finally:
        engine.dispose()


def restore_old_log(url: str) -> None:
    """The golden log in a database at 0013_snapshots (before 0015), as the old code left it."""
    migrate(url)
    keys, lines = golden()

    def load(connection: sa.Connection) -> None:
        command.downgrade(alembic_config(connection), "0013_snapshots")
        assert "sealed" not in {c["name"] for c in sa.inspect(connection).get_columns("events")}
        rows = []
        previous = bytes(32)
        for number, line in enumerate(lines, 1):
            row = parse_line(line, number, previous)
            previous = row["hash"]
            del row["hashed"], row["sealed"]  # no such column yet
            rows.append(row)
        connection.execute(events.insert(), rows)
        connection.execute(
            session_keys.insert(),
            [
                {
                    **key,
                    "key": None if key["key"] is None else bytes.fromhex(key["key"]),
                    "created_at": datetime.fromisoformat(key["created_at"]),
                    "erased_at": None
                    if key["erased_at"] is None
                    else datetime.fromisoformat(key["erased_at"]),
                }
                for key in keys
            ],
        )

    on_writer(url, load)


def as_stored(url: str) -> list[tuple[Any, ...]]:
    """Every row's position, data and metadata as their stored text, and hash."""
    text = sa.Text()
    query = sa.select(
        events.c.position, sa.cast(events.c.data, text), sa.cast(events.c.meta, text), events.c.hash
    ).order_by(events.c.position)
    return on_writer(url, lambda c: [(p, d, m, bytes(h)) for p, d, m, h in c.execute(query)])


def stored(url: str) -> list[tuple[Any, ...]]:
    backend = Backend.for_url(url)
    return on_writer(url, lambda connection: [tuple(row) for row in stored_rows(connection, backend)])


async def test_a_log_sealed_before_0015_keeps_its_rows_and_hashes_and_carries_on(
    empty_url: str, fresh_url: Callable[[], str]
) -> None:
    restore_old_log(empty_url)
    before = as_stored(empty_url)
    migrate(empty_url)
    # Not one stored byte of the old log changed: the column is new, and empty on every old row.
    assert as_stored(empty_url) == before
    assert on_writer(empty_url, lambda c: c.execute(sa.select(events.c.sealed)).scalars().all()) == [None] * 7
    old_head, old_hash = before[-1][0], before[-1][3]
    assert old_hash.hex() == orjson.loads(golden()[1][-1])["hash"]

    async with Engine.open(empty_url, migrate=False, encrypted_namespaces=[NS]) as engine:
        checked = await engine.verify_chain()
        assert checked.ok and checked.head_hash == old_hash
        opened = {(e.stream, e.version): e.data for e in await engine.read_all(namespace=NS)}
        assert opened.pop(("alice", 1))["value"] == "Alice Liddell"
        assert opened == {
            **OLD_PAYLOADS,
            ("carol", 1): {"erased": True},
            ("carol", 2): {"reason": "request 1"},
        }
        await engine.rebuild()  # the golden rows went in below the engine: its read models from them
        assert (await engine.values.get(NS, "alice", "name")).value == "Alice Liddell"  # type: ignore[union-attr]

        # New events go in as bytes beside the old ones, in the same sessions.
        await engine.append(NS, "alice", [NewEvent("noted", {"text": "new é\x00✓", "n": 3})])
        await engine.values.set(NS, "bob", "name", "Bob")
        rows = await engine.read(
            lambda c: c.execute(
                sa.select(events.c.position, events.c.sealed).where(events.c.position > old_head)
            ).all()
        )
        assert len(rows) == 2 and all(sealed is not None for _, sealed in rows)
        alice = await engine.read_stream(NS, "alice")
        assert [e.data for e in alice[1:]] == [
            *(OLD_PAYLOADS[("alice", v)] for v in (2, 3)),
            {"text": "new é\x00✓", "n": 3},
        ]
        again = await engine.verify_chain(at=old_head)
        assert again.ok and again.at_hash == old_hash and again.head == old_head + 2
        assert await engine.verify() == []

        # The export: the old events' lines exactly as the old code exported them.
        out = io.BytesIO()
        await engine.export(out)
        exported = out.getvalue().splitlines()
        assert exported[:old_head] == golden()[1]
        assert [sorted(orjson.loads(line)) for line in exported[old_head:]] == [
            sorted([*orjson.loads(exported[0]), "sealed"])
        ] * 2

        # Erasure reaches both forms.
        await engine.erase(NS, "alice")
        assert all(e.data == {"erased": True} for e in (await engine.read_stream(NS, "alice"))[:4])
        assert (await engine.verify_chain()).ok

    async with Engine.open(fresh_url(), migrate=False, encrypted_namespaces=[NS]) as elsewhere:
        assert await elsewhere.import_(exported) == len(exported)
        moved = await elsewhere.verify_chain()
        assert moved.ok and moved.head == old_head + 2
        assert (await elsewhere.verify_chain(at=old_head)).at_hash == old_hash


def test_the_migration_down_is_refused_while_events_hold_sealed_bytes(empty_url: str) -> None:
    """Below 0015 sealed bytes have nowhere to go but base64 text, which their hashes do not cover."""
    migrate(empty_url)

    async def write() -> None:
        async with Engine.open(empty_url, migrate=False, encrypted_namespaces=[NS]) as engine:
            await engine.append(NS, "s", [NewEvent("noted", {"n": 1})])

    anyio.run(write)
    with pytest.raises(RuntimeError, match="hold sealed bytes"):
        on_writer(empty_url, lambda c: command.downgrade(alembic_config(c), "0013_snapshots"))
    assert len(stored(empty_url)[0]) == 11 and stored(empty_url)[0][10] is not None


async def test_retention_in_an_encrypting_namespace_keeps_its_record_clear_and_the_chain_verifiable(
    database_url: str,
) -> None:
    """A retention run's record (`$retention`) is not a session's data: it stays clear, so `verify`
    can read the ranges it vouches for. Sealed, it left the chain broken at the first removed
    position in every encrypting namespace."""
    async with Engine.open(database_url, migrate=False, encrypted_namespaces=[NS]) as engine:
        for n in range(6):
            await engine.append(NS, "a", [NewEvent("noted", {"n": n})])
        [report] = await engine.retain([RetentionPolicy(NS, keep_last=2)])
        assert report.truncated == {"a": 4}
        checked = await engine.verify_chain()
        assert checked.ok, checked.reason
        assert [e.data for e in await engine.read_stream(NS, "a")] == [{"n": 4}, {"n": 5}]
        record = await engine.read(
            lambda c: c.execute(
                sa.select(events.c.sealed, sa.cast(events.c.data, sa.Text())).where(
                    events.c.stream == RETENTION_STREAM
                )
            ).one()
        )
        assert record[0] is None and orjson.loads(record[1])["removed"][0][:2] == [1, 4]
