"""Fixtures: a real server (uvicorn in a thread) and httpx clients per tenant.

Tenants (from the websocket tests' configuration): `acme` and `globex` with API keys, and `open`,
the anonymous tenant. One server per test module and backend; tests isolate by session id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from session_engine.adapters.config import ServerConfig
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY, make_config, shared_postgres
from tests.conftest import BACKENDS
from tests.databases import PostgresDatabases, SqliteDatabases

__all__ = ["ACME_KEY", "GLOBEX_KEY", "shared_postgres"]


BODY_LIMIT = 1_048_576
"""The test servers' `[limits].max_body_bytes` (smaller than the 8 MiB default, to test 413 cheaply)."""


def config(**limits: Any) -> ServerConfig:
    limits.setdefault("max_body_bytes", BODY_LIMIT)
    return make_config(anonymous=True, **limits)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def sqlite_base(sqlite_databases: SqliteDatabases) -> Iterator[str]:
    """One server on SQLite for the module (anonymous tenant `open` configured)."""
    with running_server(sqlite_databases.fresh(), config(), migrate=False) as base:
        yield base


@pytest.fixture(scope="module", params=BACKENDS)
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """One server per module on each backend (PostgreSQL skipped with a reason when unreachable)."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_base")
        return
    databases: PostgresDatabases = request.getfixturevalue("shared_postgres")
    with running_server(databases.fresh(), config(), migrate=False) as base:
        yield base


@pytest.fixture
def acme(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=bearer(ACME_KEY), timeout=30) as client:
        yield client


@pytest.fixture
def globex(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers=bearer(GLOBEX_KEY), timeout=30) as client:
        yield client


@pytest.fixture
def anonymous(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def sid() -> str:
    """A fresh session (thread) id per test."""
    return f"thread-{uuid.uuid4().hex[:12]}"
