"""Replays of what the two Distri clients put on the wire, request for request.

`DistriTs` mirrors `@distri/core` (the seed's TypeScript client): `encodeURIComponent` on ids and
keys, `JSON.stringify` bodies (an undefined `expiry` is left out), `value ?? null`,
`values ?? {}`, any non-2xx is an error carrying the body's `error`. Its URLs go through `fetch`
as they would in a browser or Node: parsed by the WHATWG URL rules (`whatwg_path`: dot segments
removed), and redirects followed. `DistriRust` mirrors the Rust
`distri` client: `/v1` base, percent-encoded segments, image parts sent gzip-encoded.
"""

from __future__ import annotations

import gzip
import json
from typing import Any
from urllib.parse import quote

import httpx

PART_PREFIX = "__user_part_"


def encode_uri_component(text: str) -> str:
    return quote(text, safe="-_.!~*'()")


_SINGLE_DOT = {".", "%2e"}
_DOUBLE_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}


def whatwg_path(path: str) -> str:
    """The path a WHATWG URL parser (`fetch`, `new URL`, the Rust `url` crate) makes of an
    http(s) URL's path: `\\` is a separator, `.` and `..` segments (also `%2e`, any case) are
    removed, and one that ends the path leaves a trailing slash (`/a/b/..` is `/a/`)."""
    segments = path.replace("\\", "/").split("/")[1:]
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        lowered = segment.lower()
        if lowered in _DOUBLE_DOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif lowered in _SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out)


class DistriError(Exception):
    def __init__(self, status: int, error: str | None) -> None:
        super().__init__(f"{status}: {error}")
        self.status = status
        self.error = error


class DistriTs:
    """`new Distri({baseUrl: "http://localhost:8787/api/v1"})`."""

    def __init__(self, client: httpx.Client, base_path: str = "/api/v1") -> None:
        self.http = client
        self.base = base_path

    def _url(self, thread_id: str, *rest: str) -> str:
        return "/".join([f"{self.base}/sessions", encode_uri_component(thread_id), *rest])

    def _fetch(self, method: str, path: str, **options: Any) -> httpx.Response:
        """`fetch(url, init)`: the URL parsed (dot segments removed), redirects followed."""
        return self.http.request(method, whatwg_path(path), follow_redirects=True, **options)

    def _check(self, response: httpx.Response) -> httpx.Response:
        if not response.is_success:
            try:
                error = response.json().get("error")
            except ValueError:
                error = None
            raise DistriError(response.status_code, error)
        return response

    def set_session_value(self, thread_id: str, key: str, value: Any, expiry: str | None = None) -> None:
        body: dict[str, Any] = {"key": key, "value": value}
        if expiry is not None:
            body["expiry"] = expiry
        response = self._fetch(
            "POST",
            self._url(thread_id, "values"),
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        self._check(response)

    def get_session_value(self, thread_id: str, key: str) -> Any:
        response = self._check(self._fetch("GET", self._url(thread_id, "values", encode_uri_component(key))))
        return response.json().get("value")

    def get_session_values(self, thread_id: str) -> dict[str, Any]:
        response = self._check(self._fetch("GET", self._url(thread_id, "values")))
        return response.json().get("values") or {}

    def delete_session_value(self, thread_id: str, key: str) -> None:
        self._check(self._fetch("DELETE", self._url(thread_id, "values", encode_uri_component(key))))

    def clear_session(self, thread_id: str) -> None:
        self._check(self._fetch("DELETE", self._url(thread_id)))

    def set_user_part_text(self, thread_id: str, name: str, text: str) -> None:
        self.set_session_value(thread_id, PART_PREFIX + name, {"part_type": "text", "data": text})

    def set_user_part_image(self, thread_id: str, name: str, image: dict[str, Any]) -> None:
        data = {
            "type": "bytes",
            "bytes": image["bytes"],
            "mime_type": image["mimeType"],
            "name": image.get("name"),
        }
        self.set_session_value(thread_id, PART_PREFIX + name, {"part_type": "image", "data": data})

    def delete_user_part(self, thread_id: str, name: str) -> None:
        self.delete_session_value(thread_id, PART_PREFIX + name)

    def clear_user_parts(self, thread_id: str) -> None:
        """The client's way: list every value, delete each prefixed key one by one."""
        for key in self.get_session_values(thread_id):
            if key.startswith(PART_PREFIX):
                self.delete_session_value(thread_id, key)


class DistriRust:
    """The Rust client: `/v1` base; image parts are posted with `Content-Encoding: gzip`."""

    def __init__(self, client: httpx.Client) -> None:
        self.http = client

    def _url(self, thread_id: str, *rest: str) -> str:
        return "/".join(["/v1/sessions", quote(thread_id, safe=""), *rest])

    def set_value(self, thread_id: str, key: str, value: Any, expiry: str | None = None) -> httpx.Response:
        body = {"key": key, "value": value, "expiry": expiry}
        return self.http.post(
            self._url(thread_id, "values"),
            content=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )

    def set_image_part(
        self, thread_id: str, name: str, png: str, mime_type: str, filename: str | None
    ) -> httpx.Response:
        value = {
            "part_type": "image",
            "data": {"type": "bytes", "bytes": png, "mime_type": mime_type, "name": filename},
        }
        body = gzip.compress(json.dumps({"key": PART_PREFIX + name, "value": value, "expiry": None}).encode())
        return self.http.post(
            self._url(thread_id, "values"),
            content=body,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
        )

    def get_value(self, thread_id: str, key: str) -> httpx.Response:
        return self.http.get(self._url(thread_id, "values", quote(key, safe="")))

    def delete_value(self, thread_id: str, key: str) -> httpx.Response:
        return self.http.delete(self._url(thread_id, "values", quote(key, safe="")))
