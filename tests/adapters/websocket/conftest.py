"""Fixtures: a real server (uvicorn in a thread) on a fresh database of the test's backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from session_engine.adapters.config import ServerConfig, Tenant
from tests.adapters.server import running_server
from tests.conftest import BACKENDS
from tests.databases import REQUIRE_POSTGRES, PostgresDatabases, SqliteDatabases, postgres_unreachable

ACME_KEY = "ACME0123456789abcdefg"
GLOBEX_KEY = "GLOBEX6789abcdefghijk"
ANON_KEY = "ANON00000000000000000"
assert len(ACME_KEY) == len(GLOBEX_KEY) == len(ANON_KEY) == 21


def make_config(*, anonymous: bool = False, **limits: Any) -> ServerConfig:
    tenants = [
        Tenant(
            name="acme", namespace="acme", app_name="Acme Launcher", app_version="1.2.3", api_keys=(ACME_KEY,)
        ),
        Tenant(
            name="globex", namespace="globex", app_name="Globex", app_version="9.0", api_keys=(GLOBEX_KEY,)
        ),
    ]
    if anonymous:
        tenants.append(
            Tenant(
                name="open",
                namespace="open",
                app_name="Open",
                app_version="0.1",
                api_keys=(ANON_KEY,),
                anonymous=True,
            )
        )
    limits.setdefault("rate_limit_actions", 10_000)
    return ServerConfig(tenants=tuple(tenants)).with_limits(**limits)


ServerFactory = Callable[..., str]


@pytest.fixture
def start_server(sqlite_databases: SqliteDatabases) -> Iterator[ServerFactory]:
    """start_server(**limits, anonymous=False) -> ws URL of a new server on a fresh SQLite database.

    For tests of adapter rules under a special configuration (deadlines, limits, windows): they do
    not depend on the backend, and `ws_url` already runs the protocol on both backends.
    """
    with ExitStack() as stack:

        def start(*, anonymous: bool = False, **limits: Any) -> str:
            config = make_config(anonymous=anonymous, **limits)
            base = stack.enter_context(running_server(sqlite_databases.fresh(), config, migrate=False))
            return base.replace("http://", "ws://") + "/ws"

        yield start


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[PostgresDatabases]:
    """A second PostgreSQL database, so a shared server never sees `fresh()` empty its tables."""
    reason = postgres_unreachable()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"SESSION_ENGINE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    databases = PostgresDatabases()
    yield databases
    databases.drop()


@pytest.fixture(scope="module", params=BACKENDS)
def ws_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One server per test module and backend, default test configuration (sessions isolate tests)."""
    name = "sqlite_databases" if request.param == "sqlite" else "shared_postgres"
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(name)
    with running_server(databases.fresh(), make_config(), migrate=False) as base:
        yield base.replace("http://", "ws://") + "/ws"


OBJECT_FRAME_BYTES = 4 * 1024 * 1024
"""Frames large enough for the objects' own size limits (1 MiB envelopes) to be reachable."""


@pytest.fixture(scope="module", params=BACKENDS)
def objects_ws_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Like `ws_url`, with `max_frame_bytes` large enough to reach the session objects' own limits."""
    name = "sqlite_databases" if request.param == "sqlite" else "shared_postgres"
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(name)
    config = make_config(max_frame_bytes=OBJECT_FRAME_BYTES)
    with running_server(databases.fresh(), config, migrate=False) as base:
        yield base.replace("http://", "ws://") + "/ws"
