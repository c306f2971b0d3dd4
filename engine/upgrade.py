"""Schema migrations, run through Alembic (the only way the schema changes)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL

from session_engine import migrations
from session_engine.engine.backends import Backend


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

    The backend's migration lock keeps several engine processes from migrating at once.
    """
    with engine.connect() as connection, backend.migration_lock(connection):
        if not pending(connection):
            connection.rollback()
            return False
        connection.rollback()
        command.upgrade(alembic_config(connection), "heads")
        connection.commit()
        return True


def migrate(url: str | URL | None = None) -> bool:
    """Bring a database to the latest schema (`Engine.open` also does, unless told not to).

    `url` as `Engine.open` takes it (None: `SESSION_ENGINE_DATABASE`, else the default SQLite file).
    Returns True when anything was applied.
    """
    backend = Backend.for_url(url)
    engine = backend.create_engine(writer=True)
    try:
        return upgrade(engine, backend)
    finally:
        engine.dispose()


def database_url(url: str | URL | None = None) -> str:
    """The database a URL names, as the engine would open it (password hidden): for messages."""
    return Backend.for_url(url).url.render_as_string(hide_password=True)
