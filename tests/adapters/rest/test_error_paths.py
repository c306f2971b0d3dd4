"""Error paths of the BlobHub endpoint and the object resource routes, each in its family's shape.

`session_object_too_large` (count, envelope and append bounds), `payload_too_large` (the body
limit: Content-Length, chunked, gzip bombs), content encodings, and `internal_error` (the engine
made to fail inside a running server: 500, logged with its traceback, no detail in the answer).
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from session_engine.engine.errors import EngineError
from tests.adapters.rest.conftest import ACME_KEY, BODY_LIMIT, bearer, config
from tests.adapters.rest.resources import THREAD, Objects, message, refused, resource_error
from tests.adapters.server import ServerThread
from tests.databases import SqliteDatabases

REV = "acme"
BLOBHUB = ("data", "data/command")


def command(http: httpx.Client, name: str, route: str = "data", **fields: Any) -> httpx.Response:
    body = {"engine": "workflow_blobhub", "command": name, **fields}
    return http.post(f"/revisions/{REV}/{route}", json=body)


def blobhub_refused(response: httpx.Response, status: int, error: str) -> str:
    """Assert a refusal in BlobHub's shape, `{"error": "<name>", "message": "<text>"}`."""
    assert response.status_code == status, (response.request.url, response.text)
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == error, body
    assert isinstance(body["message"], str) and body["message"] and "Traceback" not in response.text
    message: str = body["message"]
    return message


def chunks(total: int, size: int = 100_000) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked): the limit is counted as bytes arrive."""
    for _ in range(total // size + 1):
        yield b"x" * size


def chunks_of(data: bytes, size: int = 10_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_session_object_too_large_in_each_shape(acme: httpx.Client, sid: str) -> None:
    objects = Objects(acme, sid)
    objects.ok(objects.put("log", {"type": "messages", "messages": [message("one")]}))
    before = objects.events()
    too_many = [{}] * 10_001  # the count is checked before the messages themselves
    for route in BLOBHUB:
        response = command(
            acme, "append_session_messages", route, session_id=sid, alias="log", messages=too_many
        )
        assert "10000" in blobhub_refused(response, 413, "session_object_too_large")
    assert "10000" in refused(objects.append("log", too_many), 413, "session_object_too_large")
    assert objects.events() == before
    assert len(objects.ok(objects.get("log"))["value"]["messages"]) == 1


@pytest.fixture(scope="module")
def roomy_base(sqlite_databases: SqliteDatabases) -> Iterator[str]:
    """A server whose body limit (3 MiB) lets a value over the engine's 1 MiB envelope limit in."""
    thread = ServerThread(sqlite_databases.fresh(), config(max_body_bytes=3 * BODY_LIMIT), migrate=False)
    thread.start()
    try:
        yield thread.base_url
    finally:
        thread.stop()


def test_envelope_and_append_over_one_mib_in_each_shape(roomy_base: str, sid: str) -> None:
    big = message("x" * 1_100_000)
    with httpx.Client(base_url=roomy_base, headers=bearer(ACME_KEY), timeout=30) as http:
        objects = Objects(http, sid)
        refused(objects.put("big", {"type": "message", "message": big}), 413, "session_object_too_large")
        value = {"type": "message", "message": big}
        blobhub_refused(
            command(http, "upload_session_object", session_id=sid, alias="big", value=value),
            413,
            "session_object_too_large",
        )
        refused(objects.get("big"), 404, "not_found")
        objects.ok(objects.put("log", {"type": "messages", "messages": [message("one")]}))
        refused(objects.append("log", [big]), 413, "session_object_too_large")
        blobhub_refused(
            command(http, "append_session_messages", session_id=sid, alias="log", messages=[big]),
            413,
            "session_object_too_large",
        )
        assert [e["type"] for e in objects.events()] == ["objects.object_uploaded"]


def resource_writes(sid: str) -> list[tuple[str, str]]:
    base = f"/api/sessions/{sid}/objects"
    return [
        ("PUT", f"{base}/big"),
        ("POST", f"{base}/log/messages"),
        ("POST", f"{base}/t/items"),
        ("POST", f"{base}/g/mutations"),
        ("POST", f"{base}/g/query"),
        ("PUT", f"/api/records/{sid}"),
    ]


def test_body_limit_is_413_in_each_shape(acme: httpx.Client, sid: str) -> None:
    huge = json.dumps({"type": "message", "message": message("x" * (BODY_LIMIT + 10))}).encode()
    bomb = gzip.compress(b'{"v": "' + b"0" * (5 * BODY_LIMIT) + b'"}')
    assert len(bomb) < 100_000
    gz = {"content-encoding": "gzip"}
    for route in (*BLOBHUB, "data/query"):
        url = f"/revisions/{REV}/{route}"
        assert str(BODY_LIMIT) in blobhub_refused(acme.post(url, content=huge), 413, "payload_too_large")
        blobhub_refused(acme.post(url, content=chunks(BODY_LIMIT)), 413, "payload_too_large")
        blobhub_refused(acme.post(url, content=bomb, headers=gz), 413, "payload_too_large")
    for method, url in resource_writes(sid):
        assert str(BODY_LIMIT) in refused(acme.request(method, url, content=huge), 413, "payload_too_large")
        refused(acme.request(method, url, content=chunks(BODY_LIMIT)), 413, "payload_too_large")
        refused(acme.request(method, url, content=bomb, headers=gz), 413, "payload_too_large")
    assert Objects(acme, sid).events() == []
    # A chunked body within the limit is read whole and served.
    fits = json.dumps({"content": [{"type": "text", "text": "y" * 60_000}]}).encode()
    Objects(acme, sid).ok(Objects(acme, sid).put("t", THREAD))
    assert acme.post(f"/api/sessions/{sid}/objects/t/items", content=chunks_of(fits)).status_code == 201


def test_content_encodings_in_each_shape(acme: httpx.Client, sid: str) -> None:
    upload = {"command": "upload_session_object", "session_id": sid, "alias": "t", "value": THREAD}
    packed = gzip.compress(json.dumps(upload).encode())
    response = acme.post(f"/revisions/{REV}/data", content=packed, headers={"content-encoding": "gzip"})
    assert response.status_code == 200 and response.json() == {}
    item = gzip.compress(json.dumps({"content": [{"type": "text", "text": "zipped"}]}).encode())
    url = f"/api/sessions/{sid}/objects/t/items"
    assert acme.post(url, content=item, headers={"content-encoding": "gzip"}).status_code == 201
    for headers, status, code in (
        ({"content-encoding": "gzip"}, 400, "bad_encoding"),
        ({"content-encoding": "br"}, 415, "unsupported_encoding"),
    ):
        blobhub_refused(
            acme.post(f"/revisions/{REV}/data", content=b"not gzip", headers=headers), status, code
        )
        refused(acme.post(url, content=b"not gzip", headers=headers), status, code)
    truncated = gzip.compress(json.dumps(upload).encode())[:-6]
    blobhub_refused(
        acme.post(f"/revisions/{REV}/data", content=truncated, headers={"content-encoding": "gzip"}),
        400,
        "bad_encoding",
    )
    assert len(Objects(acme, sid).events()) == 2


@pytest.fixture(scope="module")
def server(sqlite_databases: SqliteDatabases) -> Iterator[ServerThread]:
    """A server of its own: tests here break its engine on purpose (and mend it afterwards)."""
    thread = ServerThread(sqlite_databases.fresh(), config(), migrate=False)
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def send(base: str, method: str, path: str, body: Any = None) -> httpx.Response:
    """A new connection per request: uvicorn closes a connection after an unhandled error."""
    with httpx.Client(base_url=base, headers=bearer(ACME_KEY), timeout=30) as http:
        return http.request(method, path, json=body)


def failing(error: BaseException) -> Callable[..., Any]:
    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise error

    return fail


@pytest.mark.parametrize(
    "error",
    [RuntimeError("boom: secret detail"), EngineError("secret detail")],
    ids=["unexpected exception", "unmapped engine error"],
)
def test_internal_error_in_each_shape(
    server: ServerThread, sid: str, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    engine = server.app.state.engine
    base = server.base_url
    address = {"session_id": sid, "alias": "t"}
    cases: list[tuple[str, str, str, Any]] = [
        ("blobhub", "POST", f"/revisions/{REV}/data", {"command": "download_session_object", **address}),
        (
            "blobhub",
            "POST",
            f"/revisions/{REV}/data/query",
            {"command": "download_session_object", **address},
        ),
        (
            "blobhub",
            "POST",
            f"/revisions/{REV}/data",
            {"command": "upload_session_object", **address, "value": THREAD},
        ),
        ("resource", "GET", f"/api/sessions/{sid}/objects/t", None),
        ("resource", "PUT", f"/api/sessions/{sid}/objects/t", THREAD),
    ]
    caplog.set_level(logging.ERROR, logger="session_engine.rest")
    engine.objects.download = engine.objects.upload = failing(error)
    try:
        for family, method, path, body in cases:
            response = send(base, method, path, body)
            assert response.status_code == 500, (path, response.text)
            assert "secret" not in response.text and "Traceback" not in response.text
            if family == "blobhub":
                blobhub_refused(response, 500, "internal_error")
            else:
                assert resource_error(response) == {
                    "code": "internal_error",
                    "message": "internal server error",
                }
    finally:
        del engine.objects.download, engine.objects.upload
    logged = [r for r in caplog.records if r.name == "session_engine.rest" and r.exc_info]
    assert len(logged) == len(cases), [r.getMessage() for r in caplog.records]
    for record in logged:  # the traceback of the engine's own exception, detail included
        assert record.exc_info is not None and "secret detail" in str(record.exc_info[1])
    # Mended: the same requests succeed again.
    assert send(base, "PUT", f"/api/sessions/{sid}/objects/t", THREAD).status_code == 200
    assert send(base, "POST", f"/revisions/{REV}/data", cases[0][3]).status_code == 200
