"""The `session-engine` command line, run as a user runs it: the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from session_engine.engine import Engine, Metadata, NewEvent
from session_engine.engine.backends import normalise_url
from session_engine.engine.values.tables import value_entries

SCRIPT = shutil.which("session-engine") or str(Path(sys.executable).with_name("session-engine"))


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args, "--database", url], capture_output=True, text=True, timeout=120, check=False
    )


def seed(url: str) -> None:
    async def main() -> None:
        async with Engine.open(url, migrate=False) as engine:
            meta = Metadata(actor="alice", adapter="test")
            await engine.append("default", "sess-1", [NewEvent("noted", {"text": "hello"})], metadata=meta)
            await engine.append("default", "sess-2", [NewEvent("noted", {"text": "other"})])
            await engine.append("default", "sess-1", [NewEvent("renamed", {"title": "Plan"})], metadata=meta)
            await engine.values.set("default", "sess-3", "colour", "blue")
            await engine.values.set("default", "sess-3", "size", 2)

    anyio.run(main)


def test_history_table_and_json(database_url: str) -> None:
    seed(database_url)
    table = cli("history", "sess-1", url=database_url)
    assert table.returncode == 0, table.stderr
    assert "noted" in table.stdout and "renamed" in table.stdout and "alice/test" in table.stdout
    lines = cli("history", "sess-1", "--json", url=database_url)
    events = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [(e["version"], e["type"], e["data"]) for e in events] == [
        (1, "noted", {"text": "hello"}),
        (2, "renamed", {"title": "Plan"}),
    ]
    assert cli("history", "nobody", url=database_url).returncode == 1


def test_export_import_round_trip_preserves_positions(
    database_url: str, sqlite_databases, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    seed(database_url)
    dump = tmp_path / "log.jsonl"
    exported = cli("export", str(dump), url=database_url)
    assert exported.returncode == 0, exported.stderr
    target = sqlite_databases.fresh()
    imported = cli("import", str(dump), url=target)
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "imported 5 events; verified" in imported.stdout
    again = tmp_path / "again.jsonl"
    cli("export", str(again), url=target)
    assert again.read_text() == dump.read_text()
    refused = cli("import", str(dump), url=target)
    assert refused.returncode == 2 and "empty event log" in refused.stderr


def test_import_refuses_a_gap(sqlite_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = sqlite_databases.fresh()
    seed(source)
    dump = tmp_path / "log.jsonl"
    cli("export", str(dump), url=source)
    lines = dump.read_text().splitlines()
    dump.write_text("\n".join([lines[0], lines[2]]) + "\n")
    target = sqlite_databases.fresh()
    result = cli("import", str(dump), url=target)
    assert result.returncode == 2 and "gap-free" in result.stderr
    assert cli("status", "--json", url=target).stdout.count('"events": 0') == 1


def test_verify_reports_tampering_and_replay_repairs_it(database_url: str) -> None:
    seed(database_url)
    assert cli("verify", url=database_url).returncode == 0
    engine = sa.create_engine(normalise_url(database_url))
    with engine.begin() as connection:
        entries = value_entries.c
        connection.execute(value_entries.update().where(entries.key == "size").values(size=99))
        connection.execute(value_entries.delete().where(entries.key == "colour"))
    engine.dispose()
    broken = cli("verify", url=database_url)
    assert broken.returncode == 1
    assert "size: live 99 != rebuilt" in broken.stdout
    assert "colour" in broken.stdout and "missing from the live table" in broken.stdout
    replayed = cli("replay", url=database_url)
    assert replayed.returncode == 0 and "rebuilt from" in replayed.stdout
    assert cli("verify", url=database_url).returncode == 0


def test_status_and_migrate(sqlite_databases, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'new.db'}"
    first = cli("migrate", url=url)
    assert first.returncode == 0 and "migrated" in first.stdout
    assert "already up to date" in cli("migrate", url=url).stdout
    status = json.loads(cli("status", "--json", url=url).stdout)
    assert status["head"] == 0 and "values" in status["projections"]


@pytest.mark.parametrize("command", [["history"], ["import", "/nonexistent"], ["frobnicate"]])
def test_usage_errors_are_clear(command: list[str], tmp_path: Path) -> None:
    result = cli(*command, url=f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_backup_and_restore_verify_the_copy(backend: str, database_url: str, tmp_path: Path) -> None:
    """SQLite: an online copy, verified, restored into a new file, verified again, with the same log.
    PostgreSQL: the answer names its own tools."""
    seed(database_url)
    copy = tmp_path / "backup.db"
    backed_up = cli("backup", str(copy), url=database_url)
    if backend == "postgres":
        assert (
            backed_up.returncode == 2
            and "pg_dump" in backed_up.stderr
            and "Traceback" not in backed_up.stderr
        )
        assert not copy.exists()
        return
    assert backed_up.returncode == 0, backed_up.stderr
    assert "log head 5; verified" in backed_up.stdout
    again = cli("backup", str(copy), url=database_url)
    assert again.returncode == 2 and "never overwrites" in again.stderr
    restored_file = tmp_path / "restored.db"
    restored = subprocess.run(
        [SCRIPT, "restore", str(copy), str(restored_file)], capture_output=True, text=True, timeout=120
    )
    assert restored.returncode == 0, restored.stderr
    assert "log head 5; verified" in restored.stdout

    async def log_of(url: str) -> list[tuple[object, ...]]:
        async with Engine.open(url, migrate=False) as engine:
            events = await engine.read_all(after=0, limit=100)
            values = await engine.values.get_all("default", "sess-3")
            return [(e.position, e.stream, e.type, e.data) for e in events] + [tuple(sorted(values.items()))]

    assert anyio.run(log_of, f"sqlite:///{restored_file}") == anyio.run(log_of, database_url)
