"""Fixtures: every engine test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from session_engine.engine import Engine, ManualClock
from tests.databases import REQUIRE_POSTGRES, PostgresDatabases, SqliteDatabases, postgres_unreachable
from tests.harness import EngineHarness, portal

settings.register_profile(
    "ci",
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "heavy",
    max_examples=400,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def sqlite_databases(tmp_path_factory: pytest.TempPathFactory) -> SqliteDatabases:
    return SqliteDatabases(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    reason = postgres_unreachable()
    if reason is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"SESSION_ENGINE_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    databases = PostgresDatabases()
    yield databases
    databases.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def fresh_url(backend: str, request: pytest.FixtureRequest) -> Callable[[], str]:
    """A factory of empty, migrated databases on the test's backend."""
    if backend == "sqlite":
        databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue("sqlite_databases")
    else:
        databases = request.getfixturevalue("postgres_databases")
    return databases.fresh


@pytest.fixture
def database_url(fresh_url: Callable[[], str]) -> str:
    return fresh_url()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def engine(database_url: str, clock: ManualClock) -> AsyncIterator[Engine]:
    async with Engine.open(database_url, migrate=False, clock=clock) as opened:
        yield opened


@pytest.fixture
def harness(fresh_url: Callable[[], str], clock: ManualClock) -> Iterator[Callable[..., EngineHarness]]:
    """Make EngineHarness objects (for hypothesis state machines) on the test's backend."""
    with portal() as running:
        made: list[EngineHarness] = []

        def make(**options: object) -> EngineHarness:
            options.setdefault("clock", clock)
            made.append(EngineHarness(running, fresh_url, **options))
            return made[-1]

        yield make
        for item in made:
            item.stop()


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
