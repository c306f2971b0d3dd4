"""Schema migrations, run through Alembic (the only way the schema changes)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from session_engine import migrations
from session_engine.engine.log.backend import Backend

MIGRATE_LOCK_KEY = 0x5E55_0001


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def pending(connection: sa.Connection) -> bool:
    """True when the database is behind the code's migrations."""
    script = ScriptDirectory.from_config(alembic_config())
    current = set(MigrationContext.configure(connection).get_current_heads())
    return current != set(script.get_heads())


def upgrade(engine: sa.Engine, backend: Backend) -> bool:
    """Migrate to the latest schema. Returns True when anything was applied.

    On PostgreSQL an advisory lock keeps several engine processes from migrating at once.
    """
    with engine.connect() as connection:
        if not backend.is_sqlite:
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATE_LOCK_KEY})")
            connection.commit()
        try:
            if not pending(connection):
                connection.rollback()
                return False
            connection.rollback()
            command.upgrade(alembic_config(connection), "heads")
            connection.commit()
            return True
        finally:
            if not backend.is_sqlite:
                connection.rollback()
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATE_LOCK_KEY})")
                connection.commit()
