"""The schema the migrations build is exactly the schema the code declares, on both backends."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from session_engine.engine.backends import Backend, normalise_url
from session_engine.engine.schema import all_metadata, extra_tables


def _include(extra: set[str], dialect: str) -> Any:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name is not None and (name in extra or name == "alembic_version"):
            return False
        only_on = getattr(getattr(obj, "_ddl_if", None), "dialect", None)
        if only_on is not None and only_on != dialect:
            return False  # an index declared for the other backend only (`ddl_if`)
        table = getattr(obj, "table", None)
        return not (table is not None and table.name in extra)

    return include


def test_migrated_schema_equals_metadata(database_url: str) -> None:
    backend = Backend.for_url(database_url)
    engine = backend.create_engine(writer=False)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"include_object": _include(extra_tables(), backend.name), "compare_type": True},
            )
            differences = compare_metadata(context, all_metadata())
    finally:
        engine.dispose()
    assert differences == []


def test_every_declared_table_exists(database_url: str) -> None:
    engine = sa.create_engine(normalise_url(database_url))
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {t.name for t in all_metadata().sorted_tables} <= names
    if database_url.startswith("sqlite"):
        assert extra_tables() <= names  # FTS5 tables; PostgreSQL indexes text with a GIN index instead
