"""Fixtures: a real server (uvicorn in a thread) for the bus (`/bus`) and JSON-RPC (`/rpc`) tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from session_engine.adapters.config import Bus, ServerConfig, Tenant
from tests.adapters.server import ServerThread, running_server
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY, shared_postgres  # noqa: F401 - a fixture
from tests.conftest import BACKENDS
from tests.databases import PostgresDatabases, SqliteDatabases

BUS_SECRET = "acme-bus-secret-0123456789"
GLOBEX_BUS_SECRET = "globex-bus-secret-0123456789"


def make_config(**limits: Any) -> ServerConfig:
    """Two tenants; `[bus].secret` serves acme, globex has its own bus secret."""
    tenants = (
        Tenant(name="acme", namespace="acme", app_name="Acme", app_version="1", api_keys=(ACME_KEY,)),
        Tenant(
            name="globex",
            namespace="globex",
            app_name="Globex",
            app_version="9",
            api_keys=(GLOBEX_KEY,),
            bus_secret=GLOBEX_BUS_SECRET,
        ),
    )
    config = ServerConfig(tenants=tenants, bus=Bus(secret=BUS_SECRET, tenant="acme"))
    return config.with_limits(rate_limit_actions=1_000_000, **limits)


@pytest.fixture(scope="module", params=BACKENDS)
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One server per test module and backend (tests isolate themselves by session ids)."""
    name = "sqlite_databases" if request.param == "sqlite" else "shared_postgres"
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(name)
    with running_server(databases.fresh(), make_config(), migrate=False) as base:
        yield base


@pytest.fixture
def bus_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/bus"


@pytest.fixture
def rpc_ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/rpc"


@pytest.fixture
def fresh_server(sqlite_databases: SqliteDatabases) -> Iterator[Callable[..., ServerThread]]:
    """fresh_server(**limits) -> a started ServerThread on a new SQLite database (`.app` reachable)."""
    with ExitStack() as stack:

        def start(**limits: Any) -> ServerThread:
            server = ServerThread(sqlite_databases.fresh(), make_config(**limits), migrate=False)
            server.start()
            stack.callback(server.stop)
            return server

        yield start
