"""Fixtures: the real server and deliberately broken ones (tests/adapters/conformance/faults.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from session_engine.adapters.conformance.wire import Target
from tests.adapters.conformance import faults
from tests.adapters.rpc.conftest import BUS_SECRET
from tests.adapters.websocket.conftest import ACME_KEY, shared_postgres  # noqa: F401 - a fixture
from tests.conftest import BACKENDS
from tests.databases import PostgresDatabases, SqliteDatabases

Start = Callable[..., tuple[Target, faults.FaultyServer]]


@pytest.fixture
def start(sqlite_databases: SqliteDatabases) -> Iterator[Start]:
    """start(wrap=None, **engine) -> (target, server): a (possibly broken) server on fresh SQLite."""
    servers: list[faults.FaultyServer] = []

    def started(wrap: Any = None, **engine: Any) -> tuple[Target, faults.FaultyServer]:
        server = faults.FaultyServer(sqlite_databases.fresh(), wrap, **engine)
        servers.append(server)
        return Target(server.start(), ACME_KEY, BUS_SECRET), server

    yield started
    for server in servers:
        server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def real_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    name = "sqlite_databases" if request.param == "sqlite" else "shared_postgres"
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(name)
    server = faults.FaultyServer(databases.fresh())
    try:
        yield Target(server.start(), ACME_KEY, BUS_SECRET)
    finally:
        server.stop()
