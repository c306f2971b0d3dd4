"""The log's hash chain (engine/log/chain.py, specs/audit.md): what the writer stores is what a
recomputation finds, across batches, engines and migration; a forged event is found and named even
when the read models were made to match; any single change to any stored field is detected; and
import refuses a tampered export, changing nothing."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st

from session_engine.engine import Engine, Metadata, NewEvent, ValidationFailed
from session_engine.engine.backends import Backend, normalise_url
from session_engine.engine.log.chain import (
    GENESIS,
    ChainCheck,
    check_chain,
    check_rows,
    hash_stored_row,
    stored_rows,
)
from session_engine.engine.log.schema import events, instant_from_stored
from session_engine.engine.upgrade import alembic_config
from tests.test_cli import cli

pytestmark = pytest.mark.anyio


async def fill(engine: Engine, sessions: int = 6, rounds: int = 4) -> None:
    """A log with a bit of everything the chain covers: several streams and event types, metadata
    from the command and the event, idempotency keys, multi-event appends, unicode and NUL; batches
    of 12 events and more (PostgreSQL's COPY path) and single ones."""
    for n in range(rounds):
        async with anyio.create_task_group() as tasks:  # concurrent: several commands per batch
            for s in range(sessions):
                tasks.start_soon(
                    engine.append,
                    "ns",
                    f"s{s}",
                    [
                        NewEvent("noted", {"n": n, "text": "é\x00✓"}, metadata={"trace": s}),
                        NewEvent("renamed", {"title": f"t{n}"}, schema_version=2),
                    ],
                )
        await engine.append(
            "other", "s", [NewEvent("noted", {"n": n})], idempotency_key=f"k{n}", metadata=Metadata("alice")
        )
        await engine.values.set("ns", "v", f"key{n % 2}", {"n": n})


def read(url: str, work: Callable[[sa.Connection, Backend], Any]) -> Any:
    backend = Backend.for_url(url)
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            return work(connection, backend)
    finally:
        engine.dispose()


def chain_of(url: str) -> ChainCheck:
    return read(url, lambda connection, backend: check_chain(connection, backend))


def stored_hashes(url: str) -> list[bytes]:
    def work(connection: sa.Connection, backend: Backend) -> list[bytes]:
        return [
            bytes(row[0]) for row in connection.execute(sa.select(events.c.hash).order_by(events.c.position))
        ]

    return read(url, work)


async def test_the_writer_stores_the_chain_a_recomputation_finds(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        await fill(engine)
        head = await engine.head()
        status = await engine.status()
        checked = await engine.verify_chain()
    assert checked.ok, checked.reason
    assert checked.head == head == status["head"] > 20
    assert status["head_hash"] == checked.head_hash.hex()
    # Reopened, the writer carries the chain on from the stored head.
    async with Engine.open(database_url, migrate=False) as engine:
        await engine.append("ns", "after", [NewEvent("noted", {})])
        again = await engine.verify_chain(at=head)
    assert again.ok and again.head == head + 1 and again.at_hash == checked.head_hash


async def test_an_empty_log_has_the_genesis_head(database_url: str) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        assert (await engine.status())["head_hash"] == GENESIS.hex()
        assert await engine.verify_chain() == ChainCheck(0, GENESIS)


async def test_two_engines_on_one_database_keep_one_chain(database_url: str) -> None:
    """Two writers (as two processes would be) interleave appends: each reads the other's head
    hash under the log lock, so the chain stays whole."""
    async with (
        Engine.open(database_url, migrate=False) as first,
        Engine.open(database_url, migrate=False) as second,
    ):

        async def write(engine: Engine, name: str) -> None:
            for n in range(15):
                await engine.append("ns", name, [NewEvent("noted", {"n": n})])

        async with anyio.create_task_group() as tasks:
            for i in range(3):
                tasks.start_soon(write, first, f"a{i}")
                tasks.start_soon(write, second, f"b{i}")
    checked = chain_of(database_url)
    assert checked.ok, checked.reason
    assert checked.head == 90


def test_migration_chains_an_existing_log(database_url: str) -> None:
    """0011 computes, from the stored rows, exactly the hashes the writer would have stored."""

    async def write() -> None:
        async with Engine.open(database_url, migrate=False) as engine:
            await fill(engine)

    anyio.run(write)
    written = stored_hashes(database_url)
    engine = Backend.for_url(database_url).create_engine(writer=True)
    try:
        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0006_events_idempotency_partial")
            connection.commit()
            assert "hash" not in {c["name"] for c in sa.inspect(connection).get_columns("events")}
            command.upgrade(alembic_config(connection), "heads")
            connection.commit()
    finally:
        engine.dispose()
    assert stored_hashes(database_url) == written
    assert chain_of(database_url).ok


async def test_a_forged_event_is_named_even_when_the_read_models_match(database_url: str) -> None:
    """The forger changes an event's data in the log and patches the read models to match (here by
    replaying them from the forged log): the projections agree, the chain does not."""
    async with Engine.open(database_url, migrate=False) as engine:
        await fill(engine)
        target = (await engine.read_stream("ns", "v"))[-1]
        assert target.data["value"] == {"n": 3}
        forged = {**target.data, "value": {"n": "forged"}}

        def forge(connection: sa.Connection) -> None:
            with connection.begin():
                connection.execute(
                    events.update().where(events.c.position == target.position).values(data=forged)
                )

        await engine.read(forge)
        engine._committer.forget_state()  # what a restart would do; the log changed behind it
        await engine.rebuild()
        assert await engine.verify() == []  # the read models match the forged log
        checked = await engine.verify_chain()
        assert (checked.broken_at, checked.head) == (target.position, target.position - 1)
        assert not checked.ok
    result = cli("verify", url=database_url)
    assert result.returncode == 1
    assert f"chain broken at position {target.position}" in result.stderr
    assert "verified: the live read models equal a rebuild" in result.stdout


def _mutate(field: int, value: Any, data: st.DataObject) -> Any:
    """One small change to a stored field's value, of its own kind. `recorded_at` (field 8) moves
    to another instant: SQLite's text for it has other spellings of the same instant (`T` for the
    space), which are not a change of the event (the hash covers the instant)."""
    if isinstance(value, bool) or value is None:
        raise AssertionError(value)
    if field == 8:
        shifted = instant_from_stored(value) + timedelta(microseconds=data.draw(st.integers(1, 10**9)))
        return shifted if not isinstance(value, str) else shifted.isoformat()
    if isinstance(value, int):
        return value + data.draw(st.integers(-3, 3).filter(bool), label="delta")
    if isinstance(value, bytes | memoryview):
        raw = bytearray(bytes(value))
        index = data.draw(st.integers(0, len(raw) - 1), label="byte")
        raw[index] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        return bytes(raw)
    if isinstance(value, str):
        index = data.draw(st.integers(0, len(value) - 1), label="char")
        replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != value[index]), label="to")
        return value[:index] + replacement + value[index + 1 :]
    raise AssertionError(value)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    """A real log's rows as the chain reads them (SQLite: instants come as stored text); namespace
    "other" seals its payloads, stored as bytes (engine/log/sealing.py)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('chain') / 'log.db'}"

    async def write() -> None:
        async with Engine.open(url, encrypted_namespaces=["other"]) as engine:
            await fill(engine, sessions=2, rounds=2)

    anyio.run(write)
    return read(url, lambda connection, backend: [tuple(row) for row in stored_rows(connection, backend)])


def test_the_stored_rows_check_out(stored: list[tuple[Any, ...]]) -> None:
    assert check_rows(stored).ok and len(stored) > 10


def test_each_stored_hash_is_the_sha256_the_spec_describes(stored: list[tuple[Any, ...]]) -> None:
    """Recomputed with plain `hashlib` from specs/audit.md's table alone, as an auditor would: the
    writer's hashes, event after event, are exactly those (whatever shortcut `event_hash` takes)."""
    previous = GENESIS
    for position, namespace, stream, version, type_, schema, data, meta, at, stored_hash, sealed in stored:
        parts = [part.encode() for part in (namespace, stream, type_)]
        payload = bytes(sealed) if sealed is not None else data.encode()
        micros = (instant_from_stored(at) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        header = struct.pack(
            ">32sqIIqIqIIq",
            previous,
            position,
            len(parts[0]),
            len(parts[1]),
            version,
            len(parts[2]),
            schema,
            len(payload),
            len(meta.encode()),
            micros,
        )
        previous = hashlib.sha256(header + b"".join(parts) + payload + meta.encode()).digest()
        assert bytes(stored_hash) == previous, f"event {position}"


@given(data=st.data())
def test_any_single_change_of_any_event_is_found_at_its_position(
    stored: list[tuple[Any, ...]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(stored) - 1), label="event")
    row = list(stored[index])
    last = 9 if row[10] is None else 10  # position ... recorded_at, hash, and any sealed bytes
    field = data.draw(st.integers(0, last), label="field")
    row[field] = _mutate(field, row[field], data)
    rows = [*stored[:index], tuple(row), *stored[index + 1 :]]
    checked = check_rows(rows)
    assert checked.broken_at == index + 1
    assert checked.head == index


def test_a_payload_moved_between_its_stored_forms_breaks_the_chain_there(
    stored: list[tuple[Any, ...]],
) -> None:
    """The chain covers a sealed payload's bytes where a plain one's JSON text is: neither form can
    pass for the other, whatever is put in the other column."""
    index = next(n for n, row in enumerate(stored) if row[10] is not None)
    sealed = bytes(stored[index][10])
    moved = [
        (stored[index][6], None),  # the sealed bytes dropped
        ('{"n":1}', sealed),  # other data beside the sealed bytes
        (stored[index][6], b"\x02" + sealed[1:]),  # a format nobody wrote
    ]
    for data, bytes_ in moved:
        row = (*stored[index][:6], data, *stored[index][7:10], bytes_)
        checked = check_rows([*stored[:index], row, *stored[index + 1 :]])
        assert checked.broken_at == index + 1 and checked.head == index, (data[:20], bytes_ and bytes_[:4])
    # Sealed bytes that happen to be UTF-8 text, moved into the data column: the very bytes the hash
    # covered, so only the form tells them apart.
    text = b"\x01" + "nonce, ciphertext é".encode()
    first = (1, *stored[index][1:6], stored[index][6], stored[index][7], stored[index][8], None, text)
    first = (*first[:9], hash_stored_row(GENESIS, first), text)
    assert check_rows([first]).ok
    swapped = (*first[:6], text.decode(), *first[7:10], None)
    assert check_rows([swapped]).broken_at == 1
    plain = next(n for n, row in enumerate(stored) if row[10] is None)
    as_sealed = (*stored[plain][:10], stored[plain][6].encode())  # a plain payload's text as sealed bytes
    assert check_rows([*stored[:plain], as_sealed, *stored[plain + 1 :]]).broken_at == plain + 1


def test_a_stored_field_that_cannot_be_read_breaks_the_chain_there(stored: list[tuple[Any, ...]]) -> None:
    garbled = list(stored[5])
    garbled[8] = ":026-12-05 01:03:52.112547"  # recorded_at, as SQLite stores it, one byte changed
    checked = check_rows([*stored[:5], tuple(garbled), *stored[6:]])
    assert checked.broken_at == 6 and "cannot be read" in checked.reason


def test_a_removed_or_reordered_event_breaks_the_chain(stored: list[tuple[Any, ...]]) -> None:
    assert check_rows([*stored[:3], *stored[4:]]).broken_at == 4
    assert check_rows([stored[1], stored[0], *stored[2:]]).broken_at == 1
    assert check_rows(stored[:-1]).ok  # a cut-off tail: only an anchor recorded elsewhere shows it


async def test_import_refuses_a_tampered_export_and_changes_nothing(
    database_url: str, fresh_url: Callable[[], str], tmp_path: Path
) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        await fill(engine)
        dump = tmp_path / "log.jsonl"
        with dump.open("wb") as out:
            await engine.export(out)
    lines = dump.read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert all(len(r["hash"]) == 64 for r in records)

    def altered(index: int, **changes: Any) -> list[bytes]:
        copy = list(lines)
        copy[index] = orjson.dumps({**records[index], **changes})
        return copy

    target = fresh_url()
    async with Engine.open(target, migrate=False) as engine:
        cases = [
            (altered(4, data={"n": 99}), "line 5"),
            (altered(6, metadata={"actor": "mallory"}), "line 7"),
            (altered(2, hash="00" * 32), "line 3"),
            (altered(9, recorded_at="2000-01-01T00:00:00+00:00"), "line 10"),
        ]
        for tampered, where in cases:
            with pytest.raises(ValidationFailed, match=f"{where} .*hash chain is broken"):
                await engine.import_(tampered)
            assert await engine.head() == 0
            assert (await engine.status())["events"] == 0
        assert await engine.import_(lines) == len(lines)
        assert (await engine.verify_chain()).head_hash.hex() == records[-1]["hash"]


async def test_an_export_from_before_the_chain_imports_with_a_chain(
    database_url: str, fresh_url: Callable[[], str], tmp_path: Path
) -> None:
    async with Engine.open(database_url, migrate=False) as engine:
        await fill(engine, rounds=2)
        dump = tmp_path / "log.jsonl"
        with dump.open("wb") as out:
            await engine.export(out)
    records = [orjson.loads(line) for line in dump.read_bytes().splitlines()]
    legacy = [orjson.dumps({k: v for k, v in r.items() if k != "hash"}) for r in records]
    async with Engine.open(fresh_url(), migrate=False) as engine:
        with pytest.raises(ValidationFailed, match="some lines carry a hash"):
            await engine.import_([legacy[0], orjson.dumps(records[1])])
        assert await engine.import_(legacy) == len(records)
        checked = await engine.verify_chain()
    assert checked.ok and checked.head_hash.hex() == records[-1]["hash"]


def test_verify_checks_an_anchor_recorded_elsewhere(sqlite_databases: Any) -> None:
    url = sqlite_databases.fresh()

    async def append(count: int) -> None:
        async with Engine.open(url, migrate=False) as engine:
            for n in range(count):
                await engine.append("ns", "s", [NewEvent("noted", {"n": n})])

    anyio.run(append, 3)
    status = orjson.loads(cli("status", "--json", url=url).stdout)
    anchor = f"{status['head']}:{status['head_hash']}"
    assert anchor in cli("status", url=url).stdout  # printed whole, ready to copy
    assert cli("verify", "--expect-head", anchor, url=url).returncode == 0
    assert cli("verify", "--expect-head", status["head_hash"], url=url).returncode == 0
    anyio.run(append, 2)
    assert cli("verify", "--expect-head", anchor, url=url).returncode == 0  # still on the chain
    moved = cli("verify", "--expect-head", status["head_hash"], url=url)  # no longer the head
    assert moved.returncode == 1 and "anchor mismatch at the head (position 5)" in moved.stderr
    other = cli("verify", "--expect-head", f"3:{'ab' * 32}", url=url)
    assert other.returncode == 1 and "anchor mismatch at position 3" in other.stderr
    malformed = cli("verify", "--expect-head", "3:xyz", url=url)
    assert malformed.returncode == 2 and "64 hexadecimal digits" in malformed.stderr
