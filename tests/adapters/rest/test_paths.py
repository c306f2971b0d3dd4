"""A request acts only on the resource its path names, over a real server (both backends).

Clients parse URLs by the WHATWG rules before sending (`fetch`; `tests.adapters.rest.clients`):
`deleteSessionValue(id, "..")` sends `DELETE .../sessions/{id}/`. A path that matches no route is
404 in its route family's shape: never a redirect (a 307 to `.../sessions/{id}` cleared the whole
session, and its `Location` echoed the `Host` header). Paths holding dot segments match no route;
keys no URL can address are refused on set. 405 answers list every method of the path.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.adapters.rest.clients import DistriError, DistriTs, whatwg_path
from tests.adapters.rest.resources import resource_error
from tests.records.helpers import record

OPENAPI = Path(__file__).parents[3] / "specs" / "openapi.json"
DISTRI_BASES = ("/v1", "/api/v1")
DOT_SEGMENTS = {".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"}
"""Lower-cased: what URL parsers remove (WHATWG also decodes `%2e`)."""


def send(http: httpx.Client, method: str, target: str, **options: Any) -> httpx.Response:
    """Send `target` byte for byte (httpx would otherwise remove dot segments itself)."""
    return http.request(method, "/", extensions={"target": target.encode()}, **options)


def family_error(response: httpx.Response, status: int, path: str) -> None:
    """`status` in the error shape of `path`'s route family (specs/rest.md)."""
    assert response.status_code == status, (response.request.method, path, response.text)
    body = response.json()
    if path.startswith(("/v1/", "/api/v1/")):
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], body
    elif path.startswith("/revisions/"):
        assert set(body) == {"error", "message"} and isinstance(body["message"], str), body
    else:
        resource_error(response)


def values(http: httpx.Client, sid: str) -> dict[str, Any]:
    listed: dict[str, Any] = http.get(f"/v1/sessions/{sid}/values").json()["values"]
    return listed


# -- the scenario, as the TypeScript client runs it ------------------------------------


@pytest.mark.parametrize("base", DISTRI_BASES)
def test_deleting_a_dot_key_never_touches_the_rest_of_the_session(
    acme: httpx.Client, sid: str, base: str
) -> None:
    client = DistriTs(acme, base_path=base)
    client.set_session_value(sid, "keep", 1)
    client.set_session_value(sid, "__user_part_p", {"part_type": "text", "data": "hi"})
    for key in ("..", ".", "", "%2e%2e", "%2E."):
        whatwg = whatwg_path(client._url(sid, "values", key))  # what `fetch` sends
        assert whatwg in (f"{base}/sessions/{sid}/", f"{base}/sessions/{sid}/values/"), whatwg
        with pytest.raises(DistriError) as refused:  # was 204 after a 307: the whole session gone
            client._check(client._fetch("DELETE", client._url(sid, "values", key)))
        assert refused.value.status == 404 and refused.value.error
    for key in ("..", ".", ""):  # encodeURIComponent leaves dots alone
        with pytest.raises(DistriError) as refused:
            client.delete_session_value(sid, key)
        assert refused.value.status == 404
        with pytest.raises(DistriError) as refused:  # was `null` read from the value listing
            client.get_session_value(sid, key)
        assert refused.value.status == 404
    for session in (".", ".."):  # `.../sessions/` and `.../` once parsed
        with pytest.raises(DistriError):
            client.clear_session(session)
    assert values(acme, sid) == {"keep": 1, "__user_part_p": {"part_type": "text", "data": "hi"}}
    # Keys that merely look like dot segments are ordinary keys.
    for key in ("...", "%2e%2e", "a/..", "../x", ".a"):
        client.set_session_value(sid, key, key)
        assert client.get_session_value(sid, key) == key
        client.delete_session_value(sid, key)
        assert client.get_session_value(sid, key) is None
    assert values(acme, sid) == {"keep": 1, "__user_part_p": {"part_type": "text", "data": "hi"}}


@pytest.mark.parametrize("base", DISTRI_BASES)
def test_unaddressable_keys_are_refused_and_store_nothing(acme: httpx.Client, sid: str, base: str) -> None:
    acme.post(f"{base}/sessions/{sid}/values", json={"key": "keep", "value": 1})
    for key in ("", ".", ".."):
        for body in ({"key": key, "value": 1}, {"key": key, "value": None, "expiry": None}):
            answer = acme.post(f"{base}/sessions/{sid}/values", json=body)
            family_error(answer, 400, base + "/")
            assert "no URL can address" in answer.json()["error"], answer.text
    assert values(acme, sid) == {"keep": 1}
    assert len(acme.get(f"/api/sessions/{sid}/events").json()["events"]) == 1


# -- no redirects, no Host -------------------------------------------------------------------

NO_ROUTE = [
    ("DELETE", "/v1/sessions/{sid}/"),
    ("DELETE", "/api/v1/sessions/{sid}/"),
    ("GET", "/v1/sessions/{sid}/values/"),
    ("DELETE", "/v1/sessions/{sid}/values/"),
    ("POST", "/v1/sessions/{sid}/values/"),
    ("GET", "/api/v1/sessions/{sid}/values/"),
    ("GET", "/v1/sessions/"),
    ("GET", "/api/v1/sessions/"),
    ("DELETE", "/v1/sessions/{sid}/user-parts/"),
    ("GET", "/v1/sessions/{sid}/user-parts/"),
    ("DELETE", "/v1/sessions/{sid}/values/.."),
    ("DELETE", "/v1/sessions/{sid}/values/%2e%2E"),
    ("GET", "/v1/sessions/{sid}/values/."),
    ("GET", "/v1/sessions/{sid}/values/keep/.."),
    ("DELETE", "/v1/sessions/{sid}/values/x/../keep"),
    ("DELETE", "/v1/sessions/{sid}/values/../../{sid}"),
    ("DELETE", "/v1/sessions/./user-parts"),
    ("POST", "/v1/sessions/{sid}/./values"),
    ("GET", "/v1/"),
    ("POST", "/revisions/acme/data/"),
    ("POST", "/revisions/acme/data/command/"),
    ("POST", "/revisions/./data"),
    ("POST", "/revisions/acme/../acme/data"),
    ("GET", "/api/records/{sid}/"),
    ("PUT", "/api/records/{sid}/"),
    ("GET", "/api/records/%2e"),
    ("GET", "/api/sessions/{sid}/objects/"),
    ("GET", "/api/sessions/{sid}/objects/../objects"),
    ("GET", "/api/sessions/{sid}/events/"),
    ("GET", "/api/events/"),
    ("GET", "/healthz/"),
    ("GET", "/readyz/"),
    ("POST", "/rpc/"),
    ("GET", "/docs/"),
    ("GET", "/openapi.json/"),
    ("GET", "/nowhere/"),
]


def test_a_path_no_route_takes_is_404_in_its_family_shape(acme: httpx.Client, sid: str) -> None:
    acme.post(f"/v1/sessions/{sid}/values", json={"key": "keep", "value": 1})
    assert acme.put(f"/api/records/{sid}", json=record(sid, 10)).status_code == 200
    for method, template in NO_ROUTE:
        path = template.format(sid=sid)
        body = b'{"key": "k", "value": 1}' if method in ("POST", "PUT") else None
        answer = send(acme, method, path, content=body)
        family_error(answer, 404, path)
        assert "location" not in answer.headers
    assert values(acme, sid) == {"keep": 1}
    assert acme.get(f"/api/records/{sid}").status_code == 200


def test_the_host_header_is_never_reflected(acme: httpx.Client, sid: str) -> None:
    evil = {"host": "evil.example:1"}
    cases = [*NO_ROUTE, ("PUT", "/v1/sessions/{sid}/values"), ("OPTIONS", "/api/records/{sid}")]
    cases += [("GET", "/v1/sessions/{sid}/values/k"), ("GET", "/docs"), ("GET", "/openapi.json")]
    cases += [("POST", "/healthz"), ("GET", "/rpc"), ("POST", "/v1/sessions/{sid}/values")]
    for method, template in cases:
        answer = send(acme, method, template.format(sid=sid), headers=evil)
        assert answer.status_code < 300 or answer.status_code >= 400, (method, template, answer.status_code)
        seen = [answer.text, *(f"{name}: {value}" for name, value in answer.headers.items())]
        assert not any("evil" in text for text in seen), (method, template, seen)


# -- 405 --------------------------------------------------------------------------------------


def documented_paths() -> list[tuple[str, set[str]]]:
    """Every REST path of the OpenAPI document (parameters filled in) with its methods."""
    document = json.loads(OPENAPI.read_text())
    out = []
    for template, operations in document["paths"].items():
        path = template
        while "{" in path:
            start = path.index("{")
            path = path[:start] + "p1" + path[path.index("}", start) + 1 :]
        out.append((path, {method.upper() for method in operations if method != "parameters"}))
    return out


def test_405_lists_every_method_of_the_path(acme: httpx.Client) -> None:
    """Starlette named the first matching route's methods only (`PUT .../values`: `Allow: POST`)."""
    checked = 0
    for path, methods in documented_paths():
        answer = acme.options(path)  # no route takes OPTIONS
        family_error(answer, 405, path)
        assert set(answer.headers["allow"].split(", ")) == methods, (path, answer.headers["allow"])
        method = min({"GET", "POST", "PUT", "PATCH", "DELETE"} - methods)
        wrong = acme.request(method, path)
        assert wrong.status_code == 405, (method, path, wrong.text)
        assert set(wrong.headers["allow"].split(", ")) == methods, (method, path)
        checked += 1
    assert checked >= 30
    # The paths the hot middleware answers (GET value, POST values), and non-REST neighbours.
    for method, path, allow in (
        ("PUT", "/v1/sessions/s/values", "GET, POST"),
        ("HEAD", "/api/v1/sessions/s/values/k", "GET, DELETE"),
        ("PATCH", "/v1/sessions/s/values/a/b", "GET, DELETE"),
        ("POST", "/openapi.json", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("GET", "/rpc", "POST"),
    ):
        answer = acme.request(method, path)
        assert answer.status_code == 405, (method, path, answer.text)
        assert set(answer.headers["allow"].split(", ")) == set(allow.split(", ")), (method, path)


# -- the property: no request reaches beyond what its path names ------------------------------

NAMES = ["T", "T2", "k", "x", "values", "user-parts", "sessions", "v1", "api", "%6b", "k%2F..", "..."]
"""`T` and `T2` stand for the example's two sessions."""
SEGMENT = st.sampled_from([*NAMES, ".", "..", "%2e", "%2E", ".%2e", "%2E.", "%2e%2e", ""])
KEY = st.sampled_from(["k", "x", "values", "", ".", "..", "k/..", "k/x"])


def named_write(method: str, path: str, key: str) -> tuple[str, ...] | None:
    """The write a path names: ("value", session, key), ("session", s), ("parts", s) or None.

    Written from specs/rest.md's route table, segment by segment. A path holding a dot segment
    names nothing: its sender and any proxy on the way may read it as another path.
    """
    raw = path.split("/")[1:]
    if any(segment.lower() in DOT_SEGMENTS for segment in raw):
        return None
    for prefix in (["v1"], ["api", "v1"]):
        if raw[: len(prefix)] == prefix:
            rest = raw[len(prefix) :]
            break
    else:
        return None
    if len(rest) < 2 or rest[0] != "sessions" or not rest[1]:
        return None
    session, tail = unquote(rest[1]), rest[2:]
    if method == "DELETE" and not tail:
        return ("session", session)
    if method == "DELETE" and tail == ["user-parts"]:
        return ("parts", session)
    if method == "DELETE" and len(tail) > 1 and tail[0] == "values" and "/".join(tail[1:]):
        return ("value", session, "/".join(unquote(part) for part in tail[1:]))
    if method == "POST" and tail == ["values"] and key not in ("", ".", ".."):
        return ("value", session, key)
    return None


def effect(event: dict[str, Any]) -> tuple[str, ...]:
    """What one recorded event did, in `named_write`'s terms."""
    kind, data = event["type"], event["data"]
    if kind in ("value_set", "value_deleted"):
        return ("value", event["stream"], data["key"])
    return ({"values_cleared": "session", "user_parts_cleared": "parts"}[kind], event["stream"])


@given(
    base=st.sampled_from(DISTRI_BASES),
    head=st.sampled_from(["/sessions/T", "/sessions/T/values", "/sessions", ""]),
    tail=st.lists(SEGMENT, max_size=4),
    method=st.sampled_from(["DELETE", "POST", "GET", "PUT"]),
    key=KEY,
    parsed_by_fetch=st.booleans(),
)
@example(
    base="/api/v1", head="/sessions/T/values", tail=[".."], method="DELETE", key="k", parsed_by_fetch=True
)
@example(base="/v1", head="/sessions/T/values", tail=[".."], method="DELETE", key="k", parsed_by_fetch=False)
@example(
    base="/v1",
    head="/sessions/T/values",
    tail=["..", "..", "T2"],
    method="DELETE",
    key="k",
    parsed_by_fetch=True,
)
@example(
    base="/v1",
    head="/sessions/T/values",
    tail=["%2e%2e", "user-parts"],
    method="DELETE",
    key="k",
    parsed_by_fetch=True,
)
@example(base="/v1", head="/sessions/T/values", tail=[""], method="GET", key="k", parsed_by_fetch=True)
@example(base="/v1", head="/sessions/T", tail=["values"], method="POST", key="..", parsed_by_fetch=False)
def test_no_request_touches_a_resource_its_path_does_not_name(
    acme: httpx.Client,
    base: str,
    head: str,
    tail: list[str],
    method: str,
    key: str,
    parsed_by_fetch: bool,
) -> None:
    token = uuid.uuid4().hex[:10]
    sessions = {"T": f"t-{token}", "T2": f"u-{token}"}
    for name, sid in sessions.items():  # every write a wrong path could reach has something to change
        for stored in ["k", "x", "values", "k/x", "__user_part_p"] if name == "T" else ["k"]:
            assert (
                acme.post(f"/v1/sessions/{sid}/values", json={"key": stored, "value": 1}).status_code == 204
            )
    segments = [sessions.get(segment, segment) for segment in "/".join([head, *tail]).split("/")]
    path = base + "/".join(segments)
    after = acme.get("/readyz").json()["head"]
    body = json.dumps({"key": key, "value": 2}).encode() if method in ("POST", "PUT") else None
    if parsed_by_fetch:  # as `fetch` sends it: dot segments removed, redirects followed
        path = whatwg_path(path)
        answer = acme.request(method, path, content=body, follow_redirects=True)
    else:  # byte for byte
        answer = send(acme, method, path, content=body)
    events = acme.get(f"/api/events?after={after}&limit=100").json()["events"]
    named = named_write(method, path, key)
    done = [effect(event) for event in events]
    assert all(change == named for change in done), (method, path, key, named, done)
    assert not answer.history and answer.status_code < 500, (method, path, answer.status_code)
    if any(segment.lower() in DOT_SEGMENTS for segment in path.split("/")[1:]):
        family_error(answer, 404, path)
    if named is None and named_write(method, path, "k") is not None:
        family_error(answer, 400, path)  # a set of a key no URL can address
