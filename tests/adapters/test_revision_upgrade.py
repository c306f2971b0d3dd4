"""Objects written before revisions were scoped stay readable by the same client calls.

Then a BlobHub revision had to be the tenant's namespace, and objects lived in (namespace, session
id). `OLD_LOG` is such a log exactly as that code stored it (`session-engine export` of a database
written through the code before this change: `run_command(engine, "acme", ...)`). It is imported
into a fresh database on each backend and served by the current code; no row is rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import httpx
import orjson

from session_engine.engine import Engine
from tests.adapters.rpc.client import RpcClient
from tests.adapters.server import running_server
from tests.adapters.websocket.conftest import ACME_KEY, GLOBEX_KEY, make_config

ITEM_ID = "0a3c848040c848b1859fd83e15fe3836"
_META = {"actor": "acme", "adapter": "rest"}
_AT = "2026-01-01T00:00:00+00:00"
OLD_LOG: list[dict[str, Any]] = [
    {
        "position": 1,
        "namespace": "acme",
        "stream": "sess_old",
        "version": 1,
        "type": "objects.object_uploaded",
        "schema_version": 1,
        "data": {
            "alias": "greeting",
            "value": {
                "type": "message",
                "message": {
                    "role": "user",
                    "content": [{"type": "text", "text": "written before revisions"}],
                },
            },
            "previous": None,
            "keep_children": False,
        },
        "metadata": _META,
        "idempotency_key": None,
        "recorded_at": _AT,
    },
    {
        "position": 2,
        "namespace": "acme",
        "stream": "sess_old",
        "version": 2,
        "type": "objects.object_uploaded",
        "schema_version": 1,
        "data": {
            "alias": "notes",
            "value": {"type": "thread", "thread": {"attributes": {"name": "n"}}},
            "previous": None,
            "keep_children": False,
        },
        "metadata": _META,
        "idempotency_key": None,
        "recorded_at": _AT,
    },
    {
        "position": 3,
        "namespace": "acme",
        "stream": "sess_old",
        "version": 3,
        "type": "objects.thread_item_posted",
        "schema_version": 1,
        "data": {
            "alias": "notes",
            "object_id": 2,
            "item_id": ITEM_ID,
            "user_id": "acme",
            "content": [{"type": "text", "text": "an old item"}],
            "parent_id": None,
            "metadata": None,
        },
        "metadata": _META,
        "idempotency_key": None,
        "recorded_at": _AT,
    },
]


def _load_old_log(url: str) -> None:
    async def load() -> None:
        async with Engine.open(url, migrate=False) as engine:
            assert await engine.import_(orjson.dumps(record) for record in OLD_LOG) == len(OLD_LOG)

    anyio.run(load)


def _blobhub(base: str, key: str, revision: str, command: str, **fields: Any) -> httpx.Response:
    body = {"engine": "workflow_blobhub", "command": command, "session_id": "sess_old", **fields}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{base}/revisions/{revision}/data", json=body, headers=headers, timeout=10)


def test_objects_written_before_revisions_were_scoped_stay_readable(fresh_url: Callable[[], str]) -> None:
    url = fresh_url()
    _load_old_log(url)
    acme = {"Authorization": f"Bearer {ACME_KEY}"}
    with running_server(url, make_config(), migrate=False) as base:
        # BlobHub REST, the same call as before the upgrade (revision = the tenant's namespace).
        envelope = _blobhub(base, ACME_KEY, "acme", "download_session_object", alias="greeting").json()
        assert (envelope["revision_id"], envelope["session_id"]) == ("acme", "sess_old")
        assert envelope["value"] == OLD_LOG[0]["data"]["value"]
        items = _blobhub(base, ACME_KEY, "acme", "list_session_thread_items", alias="notes").json()["items"]
        assert [(i["id"], i["revision_id"]) for i in items] == [(ITEM_ID, "acme")]

        # JSON-RPC over HTTP, with the tenant's revision named or left out.
        for params in ({"revision_id": "acme"}, {}):
            call = {"session_id": "sess_old", "alias": "greeting", **params}
            message = {"jsonrpc": "2.0", "id": 1, "method": "download_session_object", "params": call}
            answer = httpx.post(f"{base}/rpc", json=message, headers=acme, timeout=10).json()
            assert answer["result"] == envelope

        # A subscription to that revision catches up on the old events from the log.
        with RpcClient(base.replace("http://", "ws://") + "/rpc", additional_headers=acme) as rpc:
            params = {"scope": "revision", "scope_id": "acme", "target": "session", "target_id": "sess_old"}
            assert rpc.call("subscription/add", **params, after=0) == {}
            events = [rpc.notification()["params"] for _ in range(3)]
            assert [(e["id"], e["revision_id"], e["session_id"]) for e in events] == [
                (1, "acme", "sess_old"),
                (2, "acme", "sess_old"),
                (3, "acme", "sess_old"),
            ]
            assert events[2]["type"] == "session_thread_item_posted" and events[2]["item_id"] == ITEM_ID

        # History and state as of a version: the session's own stream, as before.
        for params in ({}, {"revision_id": "acme"}):
            page = httpx.get(f"{base}/api/sessions/sess_old/events", params=params, headers=acme).json()
            assert [e["position"] for e in page["events"]] == [1, 2, 3]
        state = httpx.get(
            f"{base}/api/sessions/sess_old/state", params={"version": 2, "revision_id": "acme"}, headers=acme
        ).json()
        assert list(state["objects"]) == ["greeting", "notes"]

        # The old thread goes on in the same stream; other revisions and tenants never see it.
        posted = _blobhub(
            base,
            ACME_KEY,
            "acme",
            "post_session_thread_item",
            alias="notes",
            content=[{"type": "text", "text": "new"}],
        )
        assert posted.status_code == 200
        page = httpx.get(f"{base}/api/sessions/sess_old/events", headers=acme).json()
        assert [e["version"] for e in page["events"]] == [1, 2, 3, 4]
        for key, revision in ((ACME_KEY, "rev_001"), (GLOBEX_KEY, "acme")):
            listed = _blobhub(base, key, revision, "list_session_objects").json()
            assert listed == {"objects": [], "cursor": None}
