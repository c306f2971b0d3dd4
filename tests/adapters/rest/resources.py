"""A thin client of the object resource routes (`/api/sessions/{id}/objects/...`) for the tests.

Ids and aliases are percent-encoded as one segment each (`a/b` is one alias). `refused` checks a
refusal's status, its named `code`, and that the body is exactly the resource error shape.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

THREAD: dict[str, Any] = {"type": "thread", "thread": {"attributes": {"name": "T"}, "metadata": {"k": 1}}}
GRAPH: dict[str, Any] = {"type": "graph", "graph": {"attributes": {"name": "G"}}}


def text(body: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": body}]


def message(body: str, role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": text(body), "providers": []}


def resource_error(response: httpx.Response) -> dict[str, str]:
    """The `{"error": {"code", "message"}}` body of a refusal, checked to be exactly that shape."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], body
    assert "Traceback" not in response.text
    error: dict[str, str] = body["error"]
    return error


def refused(response: httpx.Response, status: int, code: str) -> str:
    """Assert a refusal in the resource shape; returns its message."""
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    error = resource_error(response)
    assert error["code"] == code, error
    return error["message"]


class Objects:
    """One tenant's view of one session's objects."""

    def __init__(self, http: httpx.Client, session_id: str) -> None:
        self.http = http
        self.session_id = session_id

    def url(self, *segments: str) -> str:
        parts = ["/api/sessions", quote(self.session_id, safe=""), "objects"]
        return "/".join(parts + [quote(segment, safe="") for segment in segments])

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, (response.request.method, response.request.url, response.text)
        return response.json() if response.content else None

    # -- envelopes
    def put(self, alias: str, value: Any) -> httpx.Response:
        return self.http.put(self.url(alias), json=value)

    def get(self, alias: str) -> httpx.Response:
        return self.http.get(self.url(alias))

    def delete(self, alias: str) -> httpx.Response:
        return self.http.delete(self.url(alias))

    def list(self, **params: Any) -> httpx.Response:
        return self.http.get(self.url(), params=params)

    def append(self, alias: str, messages: Any) -> httpx.Response:
        return self.http.post(self.url(alias, "messages"), json={"messages": messages})

    # -- threads
    def post_item(self, alias: str, content: Any, **fields: Any) -> httpx.Response:
        return self.http.post(self.url(alias, "items"), json={"content": content, **fields})

    def items(self, alias: str, **params: Any) -> httpx.Response:
        return self.http.get(self.url(alias, "items"), params=params)

    def item(self, alias: str, item_id: str) -> httpx.Response:
        return self.http.get(self.url(alias, "items", item_id))

    # -- graphs
    def mutate(self, alias: str, operations: Any) -> httpx.Response:
        return self.http.post(self.url(alias, "mutations"), json={"operations": operations})

    def elements(self, alias: str, **params: Any) -> httpx.Response:
        return self.http.get(self.url(alias, "elements"), params=params)

    def element(self, alias: str, element_id: str) -> httpx.Response:
        return self.http.get(self.url(alias, "elements", element_id))

    def neighbors(self, alias: str, **body: Any) -> httpx.Response:
        return self.http.post(self.url(alias, "neighbors"), json=body)

    def query(self, alias: str, query: Any) -> httpx.Response:
        return self.http.post(self.url(alias, "query"), json={"query": query})

    # -- history
    def events(self) -> list[dict[str, Any]]:
        sid = quote(self.session_id, safe="")
        page = self.ok(self.http.get(f"/api/sessions/{sid}/events", params={"limit": 1000}))
        events: list[dict[str, Any]] = page["events"]
        return events
