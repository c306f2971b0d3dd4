"""Real databases for tests: SQLite files and a PostgreSQL database made fresh for each test run.

PostgreSQL tests run whenever the server at SESSION_ENGINE_TEST_POSTGRES (default
postgresql://postgres@127.0.0.1:5432/test) answers. They are skipped, with the reason, when it
does not - unless SESSION_ENGINE_REQUIRE_POSTGRES=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from session_engine.engine import migrate
from session_engine.engine.backends import normalise_url
from session_engine.engine.schema import all_metadata, extra_tables

ADMIN_URL = os.environ.get("SESSION_ENGINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("SESSION_ENGINE_REQUIRE_POSTGRES") == "1"


class SqliteDatabases:
    """Fresh SQLite files, copied from one migrated template (migrating each would be slow)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.db"
        migrate(f"sqlite:///{self.template}")

    def fresh(self) -> str:
        path = self.directory / f"{uuid.uuid4().hex[:12]}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"


class PostgresDatabases:
    """One database per test run, migrated once; `fresh` empties every table of it."""

    def __init__(self) -> None:
        self.name = f"se_test_{uuid.uuid4().hex[:10]}"
        admin = normalise_url(ADMIN_URL)
        self._admin = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = admin.set(database=self.name).render_as_string(hide_password=False)
        migrate(self.url)
        self._engine = sa.create_engine(normalise_url(self.url))
        metadata = all_metadata()
        # Extra tables are backend-specific (SQLite FTS5 indexes): empty only those that exist here.
        present = set(sa.inspect(self._engine).get_table_names())
        self._tables = [t.name for t in reversed(metadata.sorted_tables)] + sorted(extra_tables() & present)
        self._migrated = present

    def fresh(self) -> str:
        with self._engine.begin() as connection:
            # Tables an earlier test's extra domain created (the opt-in catalog): gone, as in a new database.
            for (name,) in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ):
                if name not in self._migrated:
                    connection.exec_driver_sql(f'DROP TABLE "{name}"')
            for name in self._tables:
                connection.exec_driver_sql(f'DELETE FROM "{name}"')
        return self.url

    def drop(self) -> None:
        self._engine.dispose()
        with self._admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._admin.dispose()


@contextlib.contextmanager
def empty_postgres_database() -> Iterator[str]:
    """A new PostgreSQL database with nothing in it (not even migrated), dropped afterwards."""
    admin = sa.create_engine(normalise_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
    name = f"se_empty_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield normalise_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def postgres_unreachable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        engine = sa.create_engine(normalise_url(ADMIN_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means: not reachable
        return f"PostgreSQL at {ADMIN_URL} is not reachable: {error.__class__.__name__}: {error}"
    return None
