"""JSON-RPC (`/rpc`, HTTP and websocket) against hostile input, on both backends: credentials follow
REST's rule and never reach the log; deep documents, integers beyond 64 bits and text that is not
JSON get JSON-RPC's own errors, never -32603, and change nothing. Ends with bounded fuzz tests of
both transports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus

from session_engine.adapters.logs import JsonFormatter
from tests.adapters.hostile import (
    ServerLog,
    document_breaker,
    huge_integer,
    nested,
    no_traceback,
    not_a_string,
    server_log,
    text_frame,
    too_deep,
)
from tests.adapters.rest.conftest import config
from tests.adapters.rpc.client import RpcClient
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import ACME_KEY
from tests.conftest import BACKENDS
from tests.databases import PostgresDatabases, SqliteDatabases

ACME = {"Authorization": f"Bearer {ACME_KEY}"}
GRAPH = {"type": "graph", "graph": {"attributes": {}}}


@pytest.fixture(scope="module", params=BACKENDS)
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A server with an anonymous tenant (`open`), as a credential mistake would fall back to it."""
    name = "sqlite_databases" if request.param == "sqlite" else "shared_postgres"
    databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue(name)
    with running_server(databases.fresh(), config(), migrate=False) as base:
        yield base


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        yield client


@pytest.fixture
def rpc(base_url: str) -> Iterator[RpcClient]:
    with RpcClient(base_url.replace("http://", "ws://") + "/rpc", additional_headers=ACME) as client:
        yield client


@pytest.fixture
def log() -> Iterator[ServerLog]:
    with server_log() as collected:
        yield collected
    collected.assert_clean()


def head(http: httpx.Client) -> int:
    return int(http.get("/readyz").json()["head"])


def call(method: str, request_id: Any = 1, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


# -- credentials ----------------------------------------------------------------------------------

MALFORMED = [
    {"Authorization": f"Basic {ACME_KEY}"},
    {"Authorization": "Bearer"},
    {"Authorization": "Token x"},
    {"Authorization": ""},
    {"X-Api-Key": ""},
    {"Authorization": "Bearer not-a-key-at-all"},
]


@pytest.mark.parametrize("headers", MALFORMED)
def test_a_bad_credential_is_401_never_the_anonymous_tenant(
    http: httpx.Client, base_url: str, headers: dict[str, str]
) -> None:
    """`Basic <key>`, a bare `Bearer` or `Token x` were served as the anonymous tenant (REST: 401)."""
    listing = call("list_session_objects", session_id="s")
    answer = http.post("/rpc", json=listing, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == 401
    assert http.get("/api/records", headers=headers).status_code == 401  # REST's answer: the same rule
    with pytest.raises(InvalidStatus) as refused:
        RpcClient(base_url.replace("http://", "ws://") + "/rpc", additional_headers=headers)
    assert refused.value.response.status_code == 403


def test_good_credentials_and_none(http: httpx.Client, base_url: str) -> None:
    """Bearer, X-Api-Key and ?api_key= name acme; no credential is the anonymous tenant `open`."""
    upload = call("upload_session_object", session_id="who", alias="g", value=GRAPH)
    assert http.post("/rpc", json=upload, headers={"X-Api-Key": ACME_KEY}).json()["result"] == {}
    download = call("download_session_object", session_id="who", alias="g")
    for options in ({"headers": ACME}, {"params": {"api_key": ACME_KEY}}):
        assert http.post("/rpc", json=download, **options).json()["result"]["revision_id"] == "acme"  # type: ignore[arg-type]
    assert http.post("/rpc", json=download).json()["error"]["code"] == 404  # `open` has no such object
    with RpcClient(base_url.replace("http://", "ws://") + f"/rpc?api_key={ACME_KEY}") as client:
        assert client.call("download_session_object", session_id="who", alias="g")["revision_id"] == "acme"
    # REST takes the same headers (the hot Distri route too); the URL key is JSON-RPC's alone.
    for path in ("/api/sessions/who/objects/g", "/v1/sessions/who/values/k"):
        assert http.get(path, headers={"X-Api-Key": ACME_KEY}).status_code == 200
        assert http.get(path, headers={"X-Api-Key": "nope-key-3"}).status_code == 401


def test_an_api_key_in_the_url_never_reaches_the_log(http: httpx.Client, base_url: str) -> None:
    """uvicorn wrote `?api_key=<key>` in clear into the access log and its websocket lines (the
    access log is off now: each request's line is the server's own, built without its URL's query)."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(level=logging.DEBUG)
    loggers = [logging.getLogger(name) for name in ("session_engine.requests", "uvicorn.error")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    try:
        listing = call("list_session_objects", session_id="s")
        assert http.post("/rpc", json=listing, params={"api_key": ACME_KEY}).status_code == 200
        assert http.post("/rpc?x=1&api%5Fkey=nope-key-1", json=listing).status_code == 401
        with RpcClient(base_url.replace("http://", "ws://") + f"/rpc?api_key={ACME_KEY}") as client:
            client.call("list_session_objects", session_id="s")
        with pytest.raises(InvalidStatus):
            RpcClient(base_url.replace("http://", "ws://") + "/rpc?api_key=nope-key-2")
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
    lines = [JsonFormatter().format(record) for record in records]
    assert any('"surface":"jsonrpc"' in line for line in lines), lines  # the lines exist...
    assert any("WebSocket /rpc?api_key=[redacted]" in line for line in lines), lines
    for secret in (ACME_KEY, "nope-key-1", "nope-key-2"):
        assert not any(secret in line for line in lines), lines  # ...without the key


# -- documents and integers -----------------------------------------------------------------------


def test_a_deep_graph_query_is_invalid_params(http: httpx.Client, rpc: RpcClient, log: ServerLog) -> None:
    """Steps nested 1,000 deep were -32603 (a RecursionError), on both transports."""
    rpc.call("upload_session_object", session_id="deep", alias="g", value=GRAPH)
    text = (
        '{"jsonrpc": "2.0", "id": 7, "method": "query_session_graph", "params": {"session_id": "deep",'
        f' "alias": "g", "query": {{"start": ["V"], "steps": {nested(1000).decode()}}}}}}}'
    )
    answer = rpc.raw(text)
    assert answer["id"] == 7 and answer["error"]["code"] == -32602, answer
    assert answer["error"]["data"] == {"error": "invalid_graph_query", "status": 400}
    assert "nested deeper than 64 levels" in answer["error"]["message"]
    posted = http.post("/rpc", content=text.encode(), headers=ACME).json()
    assert posted["error"]["code"] == -32602 and posted["error"]["data"]["error"] == "invalid_graph_query"


def test_text_nested_past_the_parser_is_a_parse_error(http: httpx.Client, rpc: RpcClient) -> None:
    answer = rpc.raw(nested(1025).decode())
    assert (
        answer["error"]["code"] == -32700 and "nested deeper than 1024 levels" in answer["error"]["message"]
    )
    posted = http.post("/rpc", content=nested(1025), headers=ACME).json()
    assert posted["error"]["code"] == -32700


def test_integers_beyond_64_bits(http: httpx.Client, rpc: RpcClient, log: ServerLog) -> None:
    """An id of 2**64 is invalid (it was a float); one of 2**64 - 1 comes back exactly. A document
    integer beyond 64 bits is the command's own error, and nothing is written."""
    assert rpc.raw('{"jsonrpc": "2.0", "id": 18446744073709551616, "method": "x"}')["id"] is None
    echoed = http.post("/rpc", content=b'{"jsonrpc": "2.0", "id": 18446744073709551615, "method": "x"}')
    assert echoed.content.startswith(b'{"jsonrpc":"2.0","id":18446744073709551615,')
    rpc.call("upload_session_object", session_id="ints", alias="g", value=GRAPH)
    before = head(http)
    operations = '[{"op": "add_vertex", "labels": ["x"], "props": {"n": -9223372036854775809}}]'
    text = (
        '{"jsonrpc": "2.0", "id": 2, "method": "apply_session_graph_mutations",'
        f' "params": {{"session_id": "ints", "alias": "g", "operations": {operations}}}}}'
    )
    answer = rpc.raw(text)
    assert answer["error"]["code"] == -32602 and answer["error"]["data"]["error"] == "invalid_graph_operation"
    assert head(http) == before


def test_subscription_arguments_the_engine_refuses_are_invalid_params(rpc: RpcClient, log: ServerLog) -> None:
    """A position beyond SQL's 64 bits or NUL in the session id: -32602 at once (it was `{}`, then
    a subscription that failed in its task, logged as an error, or never delivered)."""
    base = {"scope": "revision", "scope_id": "acme"}
    for params in (
        {**base, "after": 2**64 - 1},
        {**base, "target": "session", "target_id": "a\x00b"},
    ):
        answer = rpc.request("subscription/add", params)
        assert answer["error"]["code"] == -32602, answer
    assert rpc.call("subscription/add", **base, after=2**63 - 1) == {}


# -- fuzz -----------------------------------------------------------------------------------------

SLOT = b"SLOT"
DOCUMENT_CALLS = [
    b'{"jsonrpc": "2.0", "id": 1, "method": "upload_session_object", "params": {"session_id": "fz",'
    b' "alias": "m", "value": {"type": "message", "message": {"role": "user",'
    b' "content": [{"type": "json", "json": SLOT}]}}}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "apply_session_graph_mutations", "params": {"session_id": "fz",'
    b' "alias": "g", "operations": [{"op": "add_vertex", "labels": ["x"], "props": {"p": SLOT}}]}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "post_session_thread_item", "params": {"session_id": "fz",'
    b' "alias": "t", "content": [{"type": "text", "text": "x"}], "metadata": {"m": SLOT}}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "query_session_graph", "params": {"session_id": "fz",'
    b' "alias": "g", "query": {"start": ["V"], "steps": [["has", "p", "lte", SLOT]]}}}',
    b'[{"jsonrpc": "2.0", "id": 1, "method": "append_session_messages", "params": {"session_id": "fz",'
    b' "alias": "log", "messages": [{"role": "user", "content": [{"type": "json", "json": SLOT}]}]}}]',
]
"""Calls whose slot is inside a document the engine checks: refused by the command (or not JSON)."""

ENVELOPE_CALLS = [
    b'{"jsonrpc": "2.0", "id": SLOT, "method": "upload_session_object", "params": {}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": SLOT, "params": {}}',
    b'{"jsonrpc": SLOT, "id": 1, "method": "upload_session_object", "params": {}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "upload_session_object", "params": {"session_id": SLOT,'
    b' "alias": "x", "value": {"type": "thread", "thread": {}}}}',
    b'{"jsonrpc": "2.0", "id": 1, "method": "subscription/add", "params": {"scope": "revision",'
    b' "scope_id": "acme", "target": "session", "target_id": SLOT}}',
    b"[SLOT]",
]
"""Envelopes with a slot that must be a string (or a request object): anything else is refused."""

rpc_case = st.one_of(
    st.tuples(st.sampled_from(DOCUMENT_CALLS), document_breaker),
    st.tuples(st.sampled_from(ENVELOPE_CALLS), st.one_of(not_a_string, huge_integer, too_deep())),
)


def _refusals(answer: Any) -> list[dict[str, Any]]:
    """Every answer of a message must be an error (no call of the fuzz succeeds)."""
    answers = answer if isinstance(answer, list) else [answer]
    for one in answers:
        assert one["jsonrpc"] == "2.0" and "result" not in one and one["error"]["code"] != -32603, one
    return answers


@pytest.fixture
def fuzz_session(rpc: RpcClient) -> None:
    for alias, value in (
        ("g", GRAPH),
        ("t", {"type": "thread", "thread": {"attributes": {}}}),
        ("log", {"type": "messages", "messages": []}),
    ):
        rpc.call("upload_session_object", session_id="fz", alias=alias, value=value)


@given(case=rpc_case)
def test_hostile_messages_over_http(
    http: httpx.Client, fuzz_session: None, case: tuple[bytes, bytes]
) -> None:
    template, fragment = case
    with server_log() as log:
        before = head(http)
        response = http.post("/rpc", content=template.replace(SLOT, fragment), headers=ACME)
        assert response.status_code == 200, response.text[:300]
        no_traceback(response.text)
        _refusals(orjson.loads(response.content))
        assert head(http) == before
    log.assert_clean()


@given(case=rpc_case.filter(lambda case: text_frame(case[1])))
def test_hostile_messages_over_the_websocket(
    http: httpx.Client, rpc: RpcClient, fuzz_session: None, case: tuple[bytes, bytes]
) -> None:
    """Every frame gets its answer and the connection stays open (no 1011 / 4000 close)."""
    template, fragment = case
    with server_log() as log:
        before = head(http)
        rpc.send(template.replace(SLOT, fragment).decode())
        _refusals(rpc.answer())
        assert head(http) == before
    log.assert_clean()
    assert rpc.call("list_session_objects", session_id="fz")["objects"]  # still serving


def test_the_fuzz_calls_are_valid_with_a_harmless_slot(http: httpx.Client, fuzz_session: None) -> None:
    for template in DOCUMENT_CALLS:
        answer = http.post("/rpc", content=template.replace(SLOT, b"1"), headers=ACME).json()
        for one in answer if isinstance(answer, list) else [answer]:
            assert "result" in one, (template, one)
