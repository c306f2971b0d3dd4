"""/docs renders in a real browser with no network: Swagger UI's assets ship in the package."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from session_engine.adapters.rest.openapi import SPEC
from tests.adapters.rest.conftest import config
from tests.adapters.server import running_server
from tests.browser.conftest import OfflinePage
from tests.databases import SqliteDatabases


@pytest.fixture(scope="module")
def server(sqlite_databases: SqliteDatabases) -> Iterator[str]:
    with running_server(sqlite_databases.fresh(), config(), migrate=False) as base:
        yield base


def test_docs_render_every_operation_offline(server: str, offline_page: OfflinePage) -> None:
    page = offline_page.page
    page.goto(f"{server}/docs")
    page.wait_for_selector(".opblock", timeout=90_000)  # rendering the whole spec: slow on a loaded machine
    operations = sum(len(methods) for methods in json.loads(SPEC.read_text())["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("session-engine REST API")
    assert offline_page.outside == [], "the page asked for assets beyond loopback"
    assert offline_page.failed == []
