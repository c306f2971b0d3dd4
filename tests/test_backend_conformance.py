"""The shared backend suite (session_engine.adapters.conformance.backend) on SQLite and PostgreSQL.

The suite ships with the package so that a user's own backend runs the very tests these two pass;
here the two fixtures it asks for are the classes and this suite's fresh, migrated databases.
"""

from __future__ import annotations

import pytest

from session_engine.adapters.conformance.backend import *  # noqa: F403 - the suite's tests and fixtures
from session_engine.engine.backends import Backend, PostgresBackend, SqliteBackend

CLASSES = [SqliteBackend, pytest.param(PostgresBackend, marks=pytest.mark.postgres)]


@pytest.fixture(params=CLASSES, ids=lambda cls: cls.__name__)
def backend_class(request: pytest.FixtureRequest) -> type[Backend]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def backend(backend_class: type[Backend]) -> str:
    """The conftest's backend name, so `database_url` is a fresh database of this class's kind."""
    return "sqlite" if backend_class is SqliteBackend else "postgres"
