"""Migrating a database URL: `session_engine.engine.migrate(url)` and `session-engine migrate`, which
calls it, on an empty database of every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from session_engine.engine import Engine, NewEvent, database_url, migrate
from tests.databases import PostgresDatabases, empty_postgres_database
from tests.test_cli import cli


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no schema at all, on the test's backend."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")  # skips if unreachable
    assert databases.url
    with empty_postgres_database() as url:
        yield url


def _append_and_read(url: str) -> list[str]:
    async def main() -> list[str]:
        async with Engine.open(url, migrate=False) as engine:
            await engine.append("ns", "s", [NewEvent("noted", {"n": 1})])
            await engine.values.set("ns", "s", "k", "v")
            return [event.type for event in await engine.read_all()]

    return anyio.run(main)


def test_migrate_brings_an_empty_database_to_the_latest_schema(empty_url: str) -> None:
    assert migrate(empty_url) is True
    assert migrate(empty_url) is False  # already up to date
    assert _append_and_read(empty_url) == ["noted", "value_set"]


def test_the_command_line_migrates_through_the_same_function(empty_url: str) -> None:
    first = cli("migrate", url=empty_url)
    assert first.returncode == 0, first.stderr
    shown = first.stdout.replace("\n", "")  # the console wraps long lines
    assert shown.startswith("migrated") and f"({database_url(empty_url)})" in shown
    again = cli("migrate", url=empty_url)
    assert again.returncode == 0 and "already up to date" in again.stdout
    assert migrate(empty_url) is False
    assert _append_and_read(empty_url) == ["noted", "value_set"]


def test_the_url_shown_hides_the_password() -> None:
    shown = database_url("postgresql://user:secret@127.0.0.1:5432/db")
    assert "secret" not in shown and shown.startswith("postgresql+psycopg://user:")
