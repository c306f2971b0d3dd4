"""Session-object packets (110-135) in BlobHub revisions, and history (102) and subscriptions (100) too.

A packet may name any `revision_id` of the connection's tenant; the session stays the connection's.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY
from tests.adapters.websocket.objects_client import (
    DOWNLOAD,
    GET_ITEM,
    LIST,
    MESSAGE,
    MESSAGE_VALUE,
    POST_ITEM,
    THREAD_VALUE,
    UPLOAD,
    Objects,
    text,
)
from tests.adapters.websocket.rest import http_base


def message(value: str) -> dict[str, Any]:
    return {"type": "message", "message": {**MESSAGE, "content": text(value)}}


def blobhub(ws_url: str, key: str, revision: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{http_base(ws_url)}/revisions/{revision}/data",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_object_packets_in_any_revision(objects_ws_url: str) -> None:
    with Objects(objects_ws_url) as client:
        for revision in ("rev_001", "rev_002"):
            client.ok(UPLOAD, alias="m", value=message(revision), revision_id=revision)
        client.ok(UPLOAD, alias="m", value=message("own"))
        client.ok(UPLOAD, alias="t", value=THREAD_VALUE, revision_id="rev_001")
        item = client.ok(POST_ITEM, alias="t", content=text("hi"), revision_id="rev_001")["item"]
        session = item["session_id"]
        assert item["revision_id"] == "rev_001" and session.startswith("ws-")
        for revision, expected in (
            ("rev_001", "rev_001"),
            ("rev_002", "rev_002"),
            ("acme", "own"),
            (None, "own"),
        ):
            fields = {} if revision is None else {"revision_id": revision}
            envelope = client.ok(DOWNLOAD, alias="m", **fields)
            assert envelope["revision_id"] == (revision or "acme") and envelope["session_id"] == session
            assert envelope["value"] == message(expected)
        assert [o["alias"] for o in client.ok(LIST, revision_id="rev_001")["objects"]] == ["m", "t"]
        assert [o["alias"] for o in client.ok(LIST)["objects"]] == ["m"]
        client.refused(
            GET_ITEM, 910, "invalid_thread_envelope", alias="t", item_id=item["id"], revision_id="rev_002"
        )

    # BlobHub REST reaches the packets' objects by revision and session; another tenant does not.
    body = {"command": "download_session_object", "session_id": session, "alias": "t"}
    assert blobhub(objects_ws_url, ACME_KEY, "rev_001", body).json()["value"] == THREAD_VALUE
    assert blobhub(objects_ws_url, ACME_KEY, "rev_002", body).status_code == 404
    assert blobhub(objects_ws_url, GLOBEX_KEY, "rev_001", body).status_code == 404


def test_two_tenants_connections_in_rev_001_are_disjoint(objects_ws_url: str) -> None:
    with Objects(objects_ws_url) as acme, Objects(objects_ws_url, key=GLOBEX_KEY) as globex:
        acme.ok(UPLOAD, alias="m", value=MESSAGE_VALUE, revision_id="rev_001")
        session = acme.ok(DOWNLOAD, alias="m", revision_id="rev_001")["session_id"]
        assert globex.ok(LIST, revision_id="rev_001")["objects"] == []
        # Naming acme's session changes nothing: packets address the connection's own session.
        globex.refused(DOWNLOAD, 900, "not_found", alias="m", revision_id="rev_001", session_id=session)
        body = {"command": "download_session_object", "session_id": session, "alias": "m"}
        assert blobhub(objects_ws_url, GLOBEX_KEY, "rev_001", body).status_code == 404


def test_history_and_subscriptions_follow_the_revision(objects_ws_url: str) -> None:
    with Objects(objects_ws_url) as client:
        rev_001 = client.ok(100, revision_id="rev_001")["subscription"]
        own = client.ok(100)["subscription"]
        client.ok(UPLOAD, alias="a", value=MESSAGE_VALUE, revision_id="rev_001")
        client.ok(UPLOAD, alias="b", value=MESSAGE_VALUE, revision_id="rev_002")
        client.ok(UPLOAD, alias="c", value=MESSAGE_VALUE)
        pushed = [client.push(), client.push()]
        got = sorted((p["subscription"], p["event"]["data"]["alias"]) for p in pushed)
        assert got == sorted([(rev_001, "a"), (own, "c")])
        history = client.ok(102, revision_id="rev_001")["events"]
        assert [(e["version"], e["data"]["alias"]) for e in history] == [(1, "a")]
        assert [e["data"]["alias"] for e in client.ok(102, revision_id="rev_002")["events"]] == ["b"]
        own_history = [e["type"] for e in client.ok(102)["events"]]
        assert own_history == ["connection_session_opened", "objects.object_uploaded"]
        replayed = client.ok(100, revision_id="rev_001", from_version=1)["subscription"]
        first = client.push()
        assert (first["subscription"], first["event"]["data"]["alias"]) == (replayed, "a")


def test_bad_revision_ids(objects_ws_url: str) -> None:
    with Objects(objects_ws_url) as client:
        client.refused(
            UPLOAD, 902, "invalid_session_object", alias="m", value=MESSAGE_VALUE, revision_id="a\x01b"
        )
        assert client.ok(LIST)["objects"] == []  # nothing written
    for packet in (
        {"type": UPLOAD, "alias": "m", "value": MESSAGE_VALUE, "revision_id": 5},
        {"type": DOWNLOAD, "alias": "m", "revision_id": ""},
        {"type": LIST, "revision_id": "r" * 201},
        {"type": 102, "revision_id": 5},
        {"type": 102, "revision_id": "a\x01b"},  # the engine's id rule: 4302 like its other bounds
        {"type": 100, "revision_id": "a\x01b"},
    ):
        with Objects(objects_ws_url) as client:
            client.send({"id": 9, **packet})
            assert client.closed_with()[0] == 4302, packet
