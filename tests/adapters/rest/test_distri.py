"""The Distri routes over real HTTP, as the `@distri/core` and Rust clients use them (both backends)."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.adapters.rest.clients import DistriError, DistriRust, DistriTs

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode()


def iso_in(hours: float) -> str:
    """JavaScript's `Date.toISOString()`: milliseconds and `Z`."""
    instant = datetime.now(UTC) + timedelta(hours=hours)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def test_seed_session_management(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_session_value(sid, "user_preference", {"theme": "dark", "language": "en"})
    assert client.get_session_value(sid, "user_preference") == {"theme": "dark", "language": "en"}
    client.set_session_value(sid, "n", 3)
    assert client.get_session_values(sid) == {"n": 3, "user_preference": {"theme": "dark", "language": "en"}}
    client.delete_session_value(sid, "user_preference")
    assert client.get_session_value(sid, "user_preference") is None
    client.clear_session(sid)
    assert client.get_session_values(sid) == {}


def test_wire_status_codes_and_shapes(acme: httpx.Client, sid: str) -> None:
    for base in ("/v1", "/api/v1"):
        url = f"{base}/sessions/{sid}"
        written = acme.post(f"{url}/values", json={"key": "k", "value": None})
        assert written.status_code == 204 and written.content == b""
        assert acme.get(f"{url}/values/k").json() == {"value": None}
        assert acme.get(f"{url}/values/missing").json() == {"value": None}
        assert acme.get(f"{url}/values").json() == {"values": {"k": None}}
        assert acme.delete(f"{url}/values/k").status_code == 204
        assert acme.delete(f"{url}/values/k").status_code == 204  # missing: not an error
        assert acme.delete(url).status_code == 204
    unknown = "/v1/sessions/never-seen"
    assert acme.get(f"{unknown}/values").json() == {"values": {}}
    assert acme.delete(unknown).status_code == 204


def test_user_parts_text_and_image(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_user_part_text(sid, "screenshot_description", "Screenshot shows the login form")
    client.set_user_part_image(
        sid, "screenshot", {"bytes": PNG, "mimeType": "image/png", "name": "screenshot.png"}
    )
    client.set_session_value(sid, "other", "x")
    stored = client.get_session_value(sid, "__user_part_screenshot")
    assert stored == {
        "part_type": "image",
        "data": {"type": "bytes", "bytes": PNG, "mime_type": "image/png", "name": "screenshot.png"},
    }
    parts = acme.get(f"/api/v1/sessions/{sid}/user-parts").json()["parts"]
    assert [p["part_type"] for p in parts] == ["text", "image"]
    client.set_user_part_text(sid, "screenshot_description", "changed")  # an overwrite keeps its place
    parts = acme.get(f"/v1/sessions/{sid}/user-parts").json()["parts"]
    assert parts[0] == {"part_type": "text", "data": "changed"} and parts[1]["part_type"] == "image"
    client.delete_user_part(sid, "screenshot_description")
    assert len(acme.get(f"/v1/sessions/{sid}/user-parts").json()["parts"]) == 1
    client.clear_user_parts(sid)
    assert client.get_session_values(sid) == {"other": "x"}


def test_atomic_clear_of_user_parts_is_one_event(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    for name in ("a", "b", "c"):
        client.set_user_part_text(sid, name, name)
    client.set_session_value(sid, "keep", 1)
    assert acme.delete(f"/v1/sessions/{sid}/user-parts").json() == {"cleared": 3}
    assert client.get_session_values(sid) == {"keep": 1}
    events = acme.get(f"/api/sessions/{sid}/events").json()["events"]
    assert len(events) == 5  # three parts, one value, one clear


def test_clear_of_user_parts_records_the_adapter_metadata(acme: httpx.Client, sid: str) -> None:
    """Every write records actor, adapter and X-Request-Id: the atomic clear used to record none."""
    client = DistriTs(acme)
    for base in ("/v1", "/api/v1"):
        client.set_user_part_text(sid, "a", base)  # a clear with no parts appends nothing
        cleared = acme.delete(f"{base}/sessions/{sid}/user-parts", headers={"X-Request-Id": f"clear{base}"})
        assert cleared.json() == {"cleared": 1}
    events = acme.get(f"/api/sessions/{sid}/events").json()["events"]
    clears = [e for e in events if e["type"] == "user_parts_cleared"]
    assert [e["version"] for e in clears] == [2, 4] and clears[0]["data"] == {"keys": ["__user_part_a"]}
    assert [e["metadata"] for e in clears] == [
        {"actor": "acme", "adapter": "rest", "correlation_id": "clear/v1"},
        {"actor": "acme", "adapter": "rest", "correlation_id": "clear/api/v1"},
    ]


def test_expiry(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_session_value(sid, "temporary_data", {"data": "value"}, iso_in(24))
    assert client.get_session_value(sid, "temporary_data") == {"data": "value"}
    client.set_session_value(sid, "gone", 1, iso_in(-1))
    assert client.get_session_value(sid, "gone") is None
    assert "gone" not in client.get_session_values(sid)
    offset = (datetime.now(UTC) + timedelta(hours=2)).astimezone().isoformat()
    client.set_session_value(sid, "offset", 2, offset)
    assert client.get_session_value(sid, "offset") == 2
    client.set_session_value(sid, "plus", 3, "2999-01-01T00:00:00+05:30")
    client.set_session_value(sid, "gone", 4)  # no expiry: never expires (clears the earlier one)
    assert client.get_session_value(sid, "gone") == 4
    for bad in ("tomorrow", "2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", 12):
        with pytest.raises(DistriError) as refused:
            client.set_session_value(sid, "bad", 1, bad)  # type: ignore[arg-type]
        assert refused.value.status == 400 and refused.value.error
    assert client.get_session_value(sid, "bad") is None


def test_keys_and_ids_with_any_character(acme: httpx.Client) -> None:
    client = DistriTs(acme)
    sid = "user/42 thread?#%é"
    keys = ["a/b", "a/b/c/", "/leading", "sp ace", "q?x=1&y#z", "100%", "ünï😀", "__user_part_p/1"]
    for i, key in enumerate(keys):
        client.set_session_value(sid, key, i)
    for i, key in enumerate(keys):
        assert client.get_session_value(sid, key) == i
    assert client.get_session_values(sid) == {key: i for i, key in enumerate(keys)}
    # An unencoded `/` in a key reaches the same key; `%2F` is not split.
    assert acme.get("/v1/sessions/user%2F42%20thread%3F%23%25%C3%A9/values/a/b").json() == {"value": 0}
    assert acme.get("/v1/sessions/user/42/values/a").status_code == 404
    client.delete_session_value(sid, "a/b")
    assert client.get_session_value(sid, "a/b") is None and client.get_session_value(sid, "a/b/c/") == 1


def test_bad_bodies_are_400_with_error(acme: httpx.Client, sid: str) -> None:
    url = f"/v1/sessions/{sid}/values"
    for body in (b"{", b"", b"[1]", b'{"key": 1, "value": 1}', b'{"value": 1}', b'{"key": "k"}', b"\xff"):
        response = acme.post(url, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400, body
        assert isinstance(response.json()["error"], str)
    assert acme.get(f"/v1/sessions/{sid}/values").json() == {"values": {}}


def test_content_type_is_not_required(acme: httpx.Client, sid: str) -> None:
    url = f"/v1/sessions/{sid}/values"
    assert acme.post(url, content=b'{"key": "a", "value": 1}').status_code == 204
    plain = {"content-type": "text/plain;charset=UTF-8"}
    assert acme.post(url, content=b'{"key": "b", "value": 2}', headers=plain).status_code == 204
    assert acme.get(url).json() == {"values": {"a": 1, "b": 2}}


def test_session_listing(acme: httpx.Client, sid: str) -> None:
    client = DistriTs(acme)
    client.set_session_value(f"{sid}-1", "b", 1)
    client.set_session_value(f"{sid}-1", "a", 1)
    client.set_session_value(f"{sid}-2", "x", 1)
    listing = acme.get("/v1/sessions", params={"limit": 2}).json()
    assert [row["session_id"] for row in listing] == [f"{sid}-2", f"{sid}-1"]
    first = listing[1]
    assert (
        first["thread_id"] == first["session_id"] and first["key_count"] == 2 and first["keys"] == ["a", "b"]
    )
    assert datetime.fromisoformat(first["updated_at"]).tzinfo is not None
    assert (
        acme.get("/api/v1/sessions", params={"limit": 1, "offset": 1}).json()[0]["session_id"] == f"{sid}-1"
    )
    only = acme.get("/v1/sessions", params={"thread_id": f"{sid}-1"}).json()
    assert [row["session_id"] for row in only] == [f"{sid}-1"]
    for params in ({"limit": 0}, {"limit": "x"}, {"offset": -1}):
        refused = acme.get("/v1/sessions", params=params)
        assert refused.status_code == 400 and isinstance(refused.json()["error"], str)


def test_rust_client_with_gzip_image_body(acme: httpx.Client, sid: str) -> None:
    rust = DistriRust(acme)
    assert rust.set_image_part(sid, "screenshot", PNG, "image/png", None).status_code == 204
    stored = rust.get_value(sid, "__user_part_screenshot").json()["value"]
    assert stored["data"] == {"type": "bytes", "bytes": PNG, "mime_type": "image/png", "name": None}
    assert rust.set_value(sid, "k/1", [1, 2], None).status_code == 204
    assert rust.get_value(sid, "k/1").json() == {"value": [1, 2]}
    assert rust.delete_value(sid, "k/1").status_code == 204
    broken = acme.post(
        f"/v1/sessions/{sid}/values", content=b"not gzip", headers={"content-encoding": "gzip"}
    )
    assert broken.status_code == 400 and "error" in broken.json()
    truncated = gzip.compress(json.dumps({"key": "t", "value": 1}).encode())[:-6]
    assert (
        acme.post(
            f"/v1/sessions/{sid}/values", content=truncated, headers={"content-encoding": "gzip"}
        ).status_code
        == 400
    )


def test_body_limit_is_413(acme: httpx.Client, sid: str) -> None:
    url = f"/v1/sessions/{sid}/values"
    huge = json.dumps({"key": "big", "value": "x" * 1_100_000}).encode()
    response = acme.post(url, content=huge)
    assert response.status_code == 413 and isinstance(response.json()["error"], str)

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 100_000

    assert acme.post(url, content=chunks()).status_code == 413
    bomb = gzip.compress(json.dumps({"key": "bomb", "value": "0" * 5_000_000}).encode())
    assert len(bomb) < 100_000
    assert acme.post(url, content=bomb, headers={"content-encoding": "gzip"}).status_code == 413
    assert acme.get(f"{url}/big").json() == {"value": None}


def test_unknown_route_and_method_keep_the_distri_shape(acme: httpx.Client) -> None:
    missing = acme.get("/v1/nope")
    assert missing.status_code == 404 and isinstance(missing.json()["error"], str)
    wrong = acme.put("/v1/sessions/x/values")
    assert wrong.status_code == 405 and isinstance(wrong.json()["error"], str)
