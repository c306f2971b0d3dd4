"""`adapters.rest.hot` answers getSessionValue / setSessionValue byte for byte like the FastAPI routes.

Two real servers on SQLite: the server as it ships, and the same app with the hot-path middleware
taken out (so `adapters.rest.distri` answers). The same requests, in the same order, must get the
same status, headers and body from both, and the writes must record the same events and metadata.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from session_engine.adapters.rest import hot as hot_module
from session_engine.adapters.rest.hot import HotDistriRoutes
from tests.adapters.rest.conftest import ACME_KEY, BODY_LIMIT, bearer, config
from tests.adapters.server import ServerThread
from tests.databases import SqliteDatabases

SID = "user%2F42%20thread%C3%A9"
LONG_ID = "i" * 201


@contextlib.contextmanager
def server(database_url: str, *, hot: bool) -> Iterator[ServerThread]:
    thread = ServerThread(database_url, config(), migrate=False)
    middleware = thread.app.user_middleware
    assert any(entry.cls is HotDistriRoutes for entry in middleware)
    if not hot:
        middleware[:] = [entry for entry in middleware if entry.cls is not HotDistriRoutes]
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture(scope="module")
def servers(sqlite_databases: SqliteDatabases) -> Iterator[tuple[ServerThread, ServerThread]]:
    with (
        server(sqlite_databases.fresh(), hot=True) as hot,
        server(sqlite_databases.fresh(), hot=False) as routes,
    ):
        yield hot, routes


@pytest.fixture(scope="module")
def pair(servers: tuple[ServerThread, ServerThread]) -> tuple[str, str]:
    return servers[0].base_url, servers[1].base_url


def requests() -> list[tuple[str, str, dict[str, str], bytes | None]]:
    """(method, path, headers, body): the hot routes' cases, and neighbours that must fall through."""
    acme = bearer(ACME_KEY)
    json = {**acme, "content-type": "application/json"}
    value = b'{"key": "k", "value": {"theme": "dark", "n": [1, 2.5, null]}}'
    cases: list[tuple[str, str, dict[str, str], bytes | None]] = []
    for mount in ("/v1", "/api/v1"):
        base = f"{mount}/sessions"
        cases += [
            ("POST", f"{base}/s1/values", json, value),
            ("GET", f"{base}/s1/values/k", acme, None),
            ("GET", f"{base}/s1/values/k?x=1", acme, None),
            ("GET", f"{base}/s1/values/missing", acme, None),
            ("GET", f"{base}/never-seen/values/k", acme, None),
            ("POST", f"{base}/{SID}/values", acme, b'{"key": "a/b", "value": 0}'),
            ("GET", f"{base}/{SID}/values/a/b", acme, None),
            ("GET", f"{base}/{SID}/values/a%2Fb", acme, None),
            ("POST", f"{base}/s1/values", {**acme, "x-request-id": "req-1"}, b'{"key": "r", "value": "x"}'),
            (
                "POST",
                f"{base}/s1/values",
                acme,
                b'{"key": "e", "value": 1, "expiry": "2999-01-01T00:00:00Z"}',
            ),
            (
                "POST",
                f"{base}/s1/values",
                acme,
                b'{"key": "p", "value": 1, "expiry": "2000-01-01T00:00:00.1+02:00"}',
            ),
            ("GET", f"{base}/s1/values/p", acme, None),
            ("POST", f"{base}/s1/values", acme, b'{"key": "e", "value": 1, "expiry": "tomorrow"}'),
            (
                "POST",
                f"{base}/s1/values",
                acme,
                b'{"key": "e", "value": 1, "expiry": "2020-02-30T00:00:00Z"}',
            ),
            ("POST", f"{base}/s1/values", acme, b'{"key": "e", "value": 1, "expiry": 5}'),
            ("POST", f"{base}/s1/values", acme, b"{"),
            ("POST", f"{base}/s1/values", acme, b"[1]"),
            ("POST", f"{base}/s1/values", acme, b'{"value": 1}'),
            ("POST", f"{base}/s1/values", acme, b'{"key": 7, "value": 1}'),
            ("POST", f"{base}/s1/values", acme, b'{"key": "nan", "value": NaN}'),
            ("POST", f"{base}/s1/values", acme, b""),
            (
                "POST",
                f"{base}/s1/values",
                {**acme, "content-type": "text/plain"},
                b'{"key": "t", "value": 1}',
            ),
            ("POST", f"{base}/s1/values", {**acme, "content-encoding": "gzip"}, gzip.compress(value)),
            ("POST", f"{base}/s1/values", {**acme, "content-encoding": "gzip"}, b"not gzip"),
            ("POST", f"{base}/s1/values", {**acme, "content-encoding": "gzip"}, gzip.compress(value) + b"x"),
            ("POST", f"{base}/s1/values", {**acme, "content-encoding": "br"}, value),
            # keys no URL can address; dot segments (httpx sends `%2e` as it is)
            ("POST", f"{base}/s1/values", acme, b'{"key": "..", "value": 1}'),
            ("POST", f"{base}/s1/values", acme, b'{"key": ".", "value": 1}'),
            ("POST", f"{base}/s1/values", acme, b'{"key": "", "value": 1}'),
            ("GET", f"{base}/s1/values/%2e%2e", acme, None),
            ("GET", f"{base}/s1/values/k/%2E", acme, None),
            ("GET", f"{base}/%2e/values/k", acme, None),
            ("POST", f"{base}/%2E%2e/values", acme, value),
            ("POST", f"{base}/s1/values", acme, b'{"key": "big", "value": "' + b"x" * BODY_LIMIT + b'"}'),
            ("GET", f"{base}/s1/values/{'k' * 600}", acme, None),
            ("POST", f"{base}/s1/values", acme, b'{"key": "' + b"k" * 600 + b'", "value": 1}'),
            ("GET", f"{base}/s1/values/nul%00key", acme, None),
            ("GET", f"{base}/{LONG_ID}/values/k", acme, None),
            ("POST", f"{base}/{LONG_ID}/values", acme, value),
            ("GET", f"{base}/s1/values/k", {}, None),  # the anonymous tenant: another namespace
            ("POST", f"{base}/s1/values", {}, value),
            ("GET", f"{base}/s1/values/k", {}, None),
            ("GET", f"{base}/s1/values/k", bearer("not-a-key"), None),
            ("POST", f"{base}/s1/values", bearer("not-a-key"), value),
            ("GET", f"{base}/s1/values/k", {"authorization": "Basic abc"}, None),
            ("GET", f"{base}/s1/values/k", {"authorization": "Bearer  x  y"}, None),
            # neighbours: not the hot routes, answered by FastAPI on both servers
            ("HEAD", f"{base}/s1/values/k", acme, None),
            ("PUT", f"{base}/s1/values", acme, value),
            ("GET", f"{base}/s1/values", acme, None),
            ("GET", f"{base}/s1/values/", acme, None),
            ("POST", f"{base}/s1/values/", acme, value),
            ("POST", f"{base}/s1/values/k", acme, value),
            ("GET", f"{base}/s1/user-parts", acme, None),
            ("GET", f"{base}//values/k", acme, None),
        ]
    cases.append(("GET", "/V1/sessions/s1/values/k", acme, None))
    return cases


def answer(client: httpx.Client, method: str, path: str, headers: dict[str, str], body: bytes | None) -> Any:
    response = client.request(method, path, headers=headers, content=body)
    base = str(client.base_url).rstrip("/")  # redirects name the server's own port
    kept = sorted(
        (name, value.replace(base, "BASE")) for name, value in response.headers.items() if name != "date"
    )
    return response.status_code, kept, response.content


def test_hot_routes_answer_like_the_fastapi_routes(pair: tuple[str, str]) -> None:
    hot, routes = pair
    with httpx.Client(base_url=hot, timeout=30) as fast, httpx.Client(base_url=routes, timeout=30) as slow:
        for method, path, headers, body in requests():
            expected = answer(slow, method, path, headers, body)
            assert answer(fast, method, path, headers, body) == expected, (method, path, headers, body)
        # The writes recorded the same events, with the same metadata (actor, adapter, X-Request-Id).
        for tenant, sid in ((bearer(ACME_KEY), "s1"), (bearer(ACME_KEY), SID), ({}, "s1")):
            url = f"/api/sessions/{sid}/events?limit=100"
            pages = [client.get(url, headers=tenant).json() for client in (fast, slow)]
            for page in pages:
                for event in page["events"]:
                    del event["recorded_at"]
            assert pages[0]["events"] and pages[0] == pages[1], url
            if sid == "s1" and tenant:
                metadata = [event["metadata"] for event in pages[0]["events"]]
                assert {"actor": "acme", "adapter": "rest", "correlation_id": "req-1"} in metadata


def test_engine_closed_and_unexpected_failures_answer_alike(
    servers: tuple[ServerThread, ServerThread],
) -> None:
    cases = [
        ("GET", "/v1/sessions/s1/values/k", None),
        ("POST", "/api/v1/sessions/s1/values", b'{"key": "k", "value": 1}'),
    ]

    def answers() -> list[Any]:
        found = []
        for thread in servers:
            server_answers = []
            for method, path, body in cases:  # a new connection each: uvicorn closes one after a crash
                with httpx.Client(base_url=thread.base_url, headers=bearer(ACME_KEY), timeout=30) as client:
                    server_answers.append(answer(client, method, path, {}, body))
            found.append(server_answers)
        return found

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    engines = [thread.app.state.engine for thread in servers]
    try:
        for engine in engines:
            engine.values.get = engine.values.set = fail
        hot, routes = answers()
        assert hot == routes and {status for status, _, _ in hot} == {500}
        assert hot[0][2] == b'{"error":"internal server error"}'
        for thread in servers:
            thread.app.state.engine = None
        hot, routes = answers()
        assert hot == routes and {status for status, _, _ in hot} == {503}
    finally:
        for thread, engine in zip(servers, engines, strict=True):
            thread.app.state.engine = engine
            del engine.values.get, engine.values.set


def test_the_hot_path_calls_the_routes_own_bodies() -> None:
    """One implementation of each route body and of the caller's resolution: the hot path only
    matches paths. It reaches no engine service and reads no header itself (it did both)."""
    tree = ast.parse(inspect.getsource(hot_module))
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert {"get_session_value", "set_session_value"} <= attributes
    assert not attributes & {"values", "records", "objects", "headers", "metadata"}
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "caller_in" in names and "resolve_tenant" not in names
