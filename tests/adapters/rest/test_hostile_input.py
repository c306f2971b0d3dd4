"""Hostile input over REST (both backends): deep nesting, integers beyond 64 bits or beyond the
columns a read binds, text that is not JSON. Each is the family's own 4xx error, never a 500, and
changes nothing; numbers that are accepted come back exactly as sent. Ends with a bounded fuzz test
over every route family (Distri, BlobHub, resources) asserting the same of random hostile bodies.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.adapters.hostile import (
    ServerLog,
    document_breaker,
    nested,
    no_traceback,
    not_a_string,
    server_log,
)
from tests.records.helpers import record

GRAPH = {"type": "graph", "graph": {"attributes": {}}}
THREAD = {"type": "thread", "thread": {"attributes": {}}}
DEEP = nested(1000).decode()
"""About 2 KB nested 1,000 deep: within the parser's limit, far beyond the engine's."""


@pytest.fixture
def log() -> Iterator[ServerLog]:
    with server_log() as collected:
        yield collected
    collected.assert_clean()


def head(client: httpx.Client) -> int:
    return int(client.get("/readyz").json()["head"])


def command(client: httpx.Client, body: dict[str, Any] | bytes) -> httpx.Response:
    if isinstance(body, bytes):
        return client.post("/revisions/acme/data", content=body)
    return client.post("/revisions/acme/data", json=body)


def refused(response: httpx.Response, status: int, code: str, *, containing: str = "") -> str:
    """The error's message, after checking the status, the code and the family's shape."""
    assert response.status_code == status, response.text
    body = response.json()
    message = body["message"] if isinstance(body["error"], str) else body["error"]["message"]
    found = body["error"] if isinstance(body["error"], str) else body["error"]["code"]
    assert found == code, body
    assert containing in message, message
    no_traceback(response.text)
    return str(message)


@pytest.fixture
def graph(acme: httpx.Client, sid: str) -> str:
    """A graph `g` with one vertex `v` (props k=1) and a thread `t` in session `sid`."""
    for alias, value in (("g", GRAPH), ("t", THREAD)):
        assert acme.put(f"/api/sessions/{sid}/objects/{alias}", json=value).status_code == 200
    operations = [{"op": "add_vertex", "element_id": "v", "labels": ["x"], "props": {"k": 1}}]
    assert acme.post(f"/api/sessions/{sid}/objects/g/mutations", json={"operations": operations}).is_success
    return sid


# -- nesting -----------------------------------------------------------------------------------------


def test_a_deep_blobhub_command_name_is_an_unknown_command(acme: httpx.Client, log: ServerLog) -> None:
    """Was a RecursionError while writing the name into the error message (500)."""
    response = command(acme, f'{{"command": {DEEP}, "session_id": "s"}}'.encode())
    refused(response, 400, "unknown_command", containing="command must be a string")


def test_deep_graph_queries_are_invalid_graph_query(acme: httpx.Client, graph: str, log: ServerLog) -> None:
    """Steps nested 1,000 deep were a RecursionError in the engine's NUL check (500)."""
    query = f'{{"start": ["V"], "steps": {DEEP}}}'
    body = f'{{"command": "query_session_graph", "session_id": "{graph}", "alias": "g", "query": {query}}}'
    refused(
        command(acme, body.encode()), 400, "invalid_graph_query", containing="nested deeper than 64 levels"
    )
    routed = acme.post(f"/api/sessions/{graph}/objects/g/query", content=f'{{"query": {query}}}'.encode())
    refused(routed, 400, "invalid_graph_query", containing="nested deeper than 64 levels")


def test_documents_nest_at_most_64_levels(acme: httpx.Client, graph: str, log: ServerLog) -> None:
    """One rule for every document: 64 levels pass, 65 are the domain's validation error."""
    before = head(acme)
    # The value, `thread` and `attributes` are three levels: 61 arrays more make 64.
    value = f'{{"type": "thread", "thread": {{"attributes": {{"a": {nested(61).decode()}}}}}}}'
    assert acme.put(f"/api/sessions/{graph}/objects/ok", content=value.encode()).status_code == 200
    too_deep = value.replace(nested(61).decode(), nested(62).decode())
    refused(
        acme.put(f"/api/sessions/{graph}/objects/no", content=too_deep.encode()),
        400,
        "invalid_session_object",
        containing="value.thread.attributes.a",
    )
    distri = acme.post(f"/v1/sessions/{graph}/values", content=f'{{"key": "k", "value": {DEEP}}}'.encode())
    assert distri.status_code == 400 and "nested deeper than 64 levels" in distri.json()["error"]
    assert head(acme) == before + 1


def test_a_record_payload_nested_deep_is_refused(acme: httpx.Client, sid: str, log: ServerLog) -> None:
    """Was a pydantic serialisation error (500) once validated."""
    observation = {"clientId": "c", "source": "s", "kind": "k", "observedAt": 1, "payload": {"a": "DEEP"}}
    body = record(sid, lastClientIdentityObservation=observation)
    text = httpx.Request("PUT", "/", json=body).content.replace(b'"DEEP"', DEEP.encode())
    message = refused(acme.put(f"/api/records/{sid}", content=text), 400, "validation_failed")
    assert "nested deeper than 64 levels" in message
    assert acme.get(f"/api/records/{sid}").status_code == 404


@pytest.mark.parametrize(
    "path", ["/v1/sessions/s/values", "/revisions/acme/data", "/api/sessions/s/objects/g/query"]
)
def test_text_nested_past_the_parser_is_not_json(acme: httpx.Client, path: str, log: ServerLog) -> None:
    """orjson stops at 1,024 levels: "not valid JSON" in each family's shape, saying the limit."""
    response = acme.post(path, content=nested(1025))
    assert response.status_code == 400
    assert "nested deeper than 1024 levels" in response.text and "not valid JSON" in response.text


# -- integers kept exactly, or refused ----------------------------------------------------------------


def test_distri_values_keep_64_bit_integers_and_refuse_others(acme: httpx.Client, sid: str) -> None:
    """2**64 was stored as 1.8446744073709552e+19 and -2**63-1 as a float: now refused."""
    for key, literal in (
        ("max", "18446744073709551615"),
        ("min", "-9223372036854775808"),
        ("p63", "9223372036854775808"),
    ):
        body = f'{{"key": "{key}", "value": [{literal}, 1.5]}}'.encode()
        assert acme.post(f"/v1/sessions/{sid}/values", content=body).status_code == 204
        assert acme.get(f"/v1/sessions/{sid}/values/{key}").content == f'{{"value":[{literal},1.5]}}'.encode()
    for key, literal in (
        ("over", "18446744073709551616"),
        ("under", "-9223372036854775809"),
        ("big", "1" + "0" * 30),
    ):
        body = f'{{"key": "{key}", "value": {{"n": {literal}}}}}'.encode()
        response = acme.post(f"/v1/sessions/{sid}/values", content=body)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": "value.n: integers must lie within -9223372036854775808..18446744073709551615 (64 bits)"
        }
        assert acme.get(f"/v1/sessions/{sid}/values/{key}").json() == {"value": None}


def test_record_epoch_ms_are_kept_as_given(acme: httpx.Client, sid: str, log: ServerLog) -> None:
    """2**63..2**64-1 was a 500 on SQLite (its driver binds no such int) and stored on PostgreSQL."""
    body = httpx.Request("PUT", "/", json=record(sid, 1000, createdAt=2**63)).content
    assert acme.put(f"/api/records/{sid}", content=body).json()["success"] is True
    assert acme.patch(f"/api/records/{sid}", json={"lastActivityAt": 2**64 - 1}).json()["success"] is True
    stored = acme.get(f"/api/records/{sid}").json()
    assert (stored["createdAt"], stored["lastActivityAt"]) == (2**63, 2**64 - 1)
    # A JavaScript client's 2**70 is a float literal: kept as the float it is.
    assert acme.patch(f"/api/records/{sid}", content=b'{"createdAt": 1.1805916207174113e+21}').is_success
    assert acme.get(f"/api/records/{sid}").json()["createdAt"] == 1.1805916207174113e21
    listed = acme.get("/api/records", params={"limit": 1000}).json()["sessions"]
    assert sid in [found["sessionId"] for found in listed]


def test_record_integers_beyond_64_bits_are_refused(acme: httpx.Client, sid: str, log: ServerLog) -> None:
    """2**70 came back as a float (1.1805916207174113e+21)."""
    text = httpx.Request("PUT", "/", json=record(sid, 1000, createdAt=1)).content
    body = text.replace(b'"createdAt":1', b'"createdAt":1180591620717411303424')
    message = refused(acme.put(f"/api/records/{sid}", content=body), 400, "validation_failed")
    assert message.startswith("session.createdAt: integers must lie within")
    assert acme.get(f"/api/records/{sid}").status_code == 404
    assert acme.put(f"/api/records/{sid}", json=record(sid, 1000)).is_success
    patch = b'{"lastActivityAt": -9223372036854775809}'
    refused(acme.patch(f"/api/records/{sid}", content=patch), 400, "validation_failed", containing="64 bits")
    assert acme.get(f"/api/records/{sid}").json()["lastActivityAt"] == 1000


def test_graph_integers_beyond_64_bits_are_refused(acme: httpx.Client, graph: str, log: ServerLog) -> None:
    """A prop of 2**64 was stored silently as a float."""
    before = head(acme)
    mutation = (
        b'{"operations": [{"op": "set_vertex_props", "element_id": "v",'
        b' "props": {"k": 18446744073709551616}}]}'
    )
    refused(
        acme.post(f"/api/sessions/{graph}/objects/g/mutations", content=mutation),
        400,
        "invalid_graph_operation",
        containing="operations.0.props.k: integers must lie within",
    )
    assert acme.get(f"/api/sessions/{graph}/objects/g/elements/v").json()["props"] == {"k": 1}
    assert head(acme) == before


# -- numbers a read binds into SQL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/sessions/s/events", {"from_version": 2**31}, "from_version"),
        ("/api/sessions/s/state", {"version": 2**31}, "version"),
        ("/api/sessions/s/state", {"position": 2**63}, "position"),
        ("/api/events", {"after": 2**63}, "after"),
    ],
)
def test_history_numbers_beyond_the_columns_are_refused_on_both_backends(
    acme: httpx.Client, path: str, params: dict[str, int], name: str, log: ServerLog
) -> None:
    """A version above 2**31 - 1 was a 500 on PostgreSQL (an INTEGER column) and 200 on SQLite."""
    message = refused(acme.get(path, params=params), 400, "validation_failed")
    assert message.startswith(f"{name} must be an integer from 0 to")
    largest = {name: params[name] - 1}
    assert acme.get(path, params=largest).status_code == 200


def test_graph_reads_with_integers_beyond_sql(acme: httpx.Client, graph: str, log: ServerLog) -> None:
    """`has` with 2**63, `limit` 2**63 and cursors holding huge keys failed in the driver (500)."""

    def query(*steps: list[Any]) -> httpx.Response:
        return acme.post(
            f"/api/sessions/{graph}/objects/g/query", json={"query": {"start": ["V"], "steps": list(steps)}}
        )

    assert query(["has", "k", "eq", 2**63]).json()["results"] == []
    assert [e["element_id"] for e in query(["has", "k", "lt", 2**63]).json()["results"]] == ["v"]
    assert [e["element_id"] for e in query(["limit", 2**63]).json()["results"]] == ["v"]
    for kind, route in (("t.d.", "t/items"), ("n.a.", "g/neighbors"), ("g.d.", "g/elements")):
        cursor = base64.urlsafe_b64encode(f"{kind}{2**70}".encode()).decode().rstrip("=")
        if route.endswith("neighbors"):
            response = acme.post(
                f"/api/sessions/{graph}/objects/{route}", json={"from": ["v"], "cursor": cursor}
            )
        else:
            response = acme.get(f"/api/sessions/{graph}/objects/{route}", params={"cursor": cursor})
        refused(response, 400, "invalid_cursor")


# -- fuzz -------------------------------------------------------------------------------------------

SLOT = b"SLOT"
TEMPLATES: list[tuple[str, str, bytes]] = [
    ("POST", "/v1/sessions/fuzz/values", b'{"key": "k", "value": SLOT}'),
    ("POST", "/api/v1/sessions/fuzz/values", b'{"key": "k", "value": {"a": [SLOT]}}'),
    (
        "POST",
        "/revisions/acme/data",
        b'{"command": "upload_session_object", "session_id": "fuzz", "alias": "m",'
        b' "value": {"type": "message", "message": {"role": "user",'
        b' "content": [{"type": "json", "json": SLOT}]}}}',
    ),
    (
        "POST",
        "/revisions/acme/data",
        b'{"command": "append_session_messages", "session_id": "fuzz", "alias": "log",'
        b' "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}],'
        b' "metadata": {"m": SLOT}}]}',
    ),
    (
        "POST",
        "/revisions/acme/data/command",
        b'{"command": "post_session_thread_item", "session_id": "fuzz",'
        b' "alias": "t", "content": [{"type": "text", "text": "x"}], "metadata": {"m": SLOT}}',
    ),
    (
        "POST",
        "/revisions/acme/data",
        b'{"command": "apply_session_graph_mutations", "session_id": "fuzz",'
        b' "alias": "g", "operations": [{"op": "add_vertex", "labels": ["x"], "props": {"p": SLOT}}]}',
    ),
    (
        "POST",
        "/revisions/acme/data/query",
        b'{"command": "query_session_graph", "session_id": "fuzz",'
        b' "alias": "g", "query": {"start": ["V"], "steps": [["has", "p", "eq", SLOT]]}}',
    ),
    (
        "PUT",
        "/api/sessions/fuzz/objects/m",
        b'{"type": "message", "message": {"role": "user", "content": [{"type": "json", "json": SLOT}]}}',
    ),
    ("PUT", "/api/sessions/fuzz/objects/th", b'{"type": "thread", "thread": {"attributes": {"a": SLOT}}}'),
    ("POST", "/api/sessions/fuzz/objects/t/items", b'{"content": [{"type": "json", "json": SLOT}]}'),
    (
        "POST",
        "/api/sessions/fuzz/objects/g/mutations",
        b'{"operations": [{"op": "set_vertex_props", "element_id": "v", "props": {"p": SLOT}}]}',
    ),
    (
        "POST",
        "/api/sessions/fuzz/objects/g/query",
        b'{"query": {"start": ["V"], "steps": [["has", "p", "gt", SLOT]]}}',
    ),
    (
        "PUT",
        "/api/records/fuzz",
        b'{"sessionId": "fuzz", "createdAt": SLOT, "lastActivityAt": 1, "agents": [], "status": "active"}',
    ),
    (
        "PUT",
        "/api/records/fuzz",
        b'{"sessionId": "fuzz", "createdAt": 1, "lastActivityAt": 1, "agents": [],'
        b' "status": "active", "lastClientIdentityObservation": {"clientId": "c", "source": "s", "kind": "k",'
        b' "observedAt": 1, "payload": {"p": SLOT}}}',
    ),
    ("PATCH", "/api/records/fuzz", b'{"lastActivityAt": SLOT}'),
]
"""Bodies where the slot is (inside) an engine document: any `document_breaker` there is refused;
with `1` in the slot each is a valid request (`test_the_fuzz_templates_are_valid_requests`)."""

STRING_TEMPLATES: list[tuple[str, str, bytes, bytes]] = [
    ("POST", "/v1/sessions/fuzz/values", b'{"key": SLOT, "value": 1}', b'"k"'),
    ("POST", "/revisions/acme/data", b'{"command": SLOT, "session_id": "fuzz"}', b'"list_session_objects"'),
    (
        "POST",
        "/revisions/acme/data",
        b'{"command": "upload_session_object", "session_id": SLOT, "alias": "x",'
        b' "value": {"type": "thread", "thread": {}}}',
        b'"fuzz"',
    ),
    (
        "POST",
        "/revisions/acme/data",
        b'{"command": "post_session_thread_item", "session_id": "fuzz",'
        b' "alias": SLOT, "content": [{"type": "text", "text": "x"}]}',
        b'"t"',
    ),
    (
        "PUT",
        "/api/records/fuzz",
        b'{"sessionId": "fuzz", "createdAt": 1, "lastActivityAt": 1, "agents": [], "status": SLOT}',
        b'"active"',
    ),
]
"""Bodies where the slot must be a string (the last item: a valid one): anything else is refused."""

QUERY_NUMBERS: list[tuple[str, str, int]] = [
    ("/api/sessions/fuzz/events", "from_version", 2**31),
    ("/api/sessions/fuzz/state", "version", 2**31),
    ("/api/sessions/fuzz/state", "position", 2**63),
    ("/api/events", "after", 2**63),
]

hostile_request = st.one_of(
    st.tuples(st.sampled_from(TEMPLATES), document_breaker),
    st.tuples(st.sampled_from([case[:3] for case in STRING_TEMPLATES]), not_a_string),
    st.tuples(
        st.sampled_from(QUERY_NUMBERS).flatmap(
            lambda case: st.tuples(st.just(case), st.integers(min_value=case[2], max_value=2**80))
        ),
        st.just(b""),
    ),
)


def _send(client: httpx.Client, session: str, case: Any, fragment: bytes) -> httpx.Response:
    """One request of a template, for `session` (the templates say `fuzz`)."""
    if len(case) == 2:  # a history read with a number beyond its column
        (path, name, _), number = case
        return client.get(path.replace("fuzz", session), params={name: number})
    method, path, template = case
    body = template.replace(b'"fuzz"', f'"{session}"'.encode()).replace(SLOT, fragment)
    return client.request(method, path.replace("fuzz", session), content=body)


@pytest.fixture
def fuzz_session(acme: httpx.Client, sid: str) -> str:
    """A session holding a thread `t`, a messages log `log` and a graph `g` with a vertex `v`."""
    for alias, value in (("t", THREAD), ("g", GRAPH), ("log", {"type": "messages", "messages": []})):
        assert acme.put(f"/api/sessions/{sid}/objects/{alias}", json=value).status_code == 200
    operations = [{"op": "add_vertex", "element_id": "v", "labels": ["x"]}]
    assert acme.post(f"/api/sessions/{sid}/objects/g/mutations", json={"operations": operations}).is_success
    return sid


@given(case=hostile_request)
def test_hostile_bodies_are_refused_in_the_family_shape_and_change_nothing(
    acme: httpx.Client, fuzz_session: str, case: tuple[Any, bytes]
) -> None:
    """No 5xx, no traceback in an answer or an error-level log line, the log head unchanged."""
    shape, fragment = case
    with server_log() as log:
        before = head(acme)
        response = _send(acme, fuzz_session, shape, fragment)
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
        no_traceback(response.text)
        body = response.json()
        assert isinstance(body["error"], str | dict), body
        assert head(acme) == before
    log.assert_clean()


def test_the_fuzz_templates_are_valid_requests(acme: httpx.Client, fuzz_session: str) -> None:
    """What the fuzz test sees refused is the hostile slot: with a harmless one each request passes."""
    for case in TEMPLATES:
        response = _send(acme, fuzz_session, case, b"1")
        assert response.is_success, (case, response.text)
    for *case, harmless in STRING_TEMPLATES:
        response = _send(acme, fuzz_session, case, harmless)
        assert response.is_success, (case, response.text)
