"""Erasure over real connections (`specs/lifecycle.md` "Verifiable erasure"): a server whose `acme`
tenant encrypts, a session filled over REST and the websocket, erased by `session-engine erase`
in another process (as an operator would). Then every read route - events, history, the
namespace's log, state, diff, values, records, objects - shows the events as erased and none of
the data; late writes over the Distri routes, the objects routes, JSON-RPC, the websocket and a
resumption are refused; an explicit recreate works. One server per backend.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from session_engine.adapters.config import ServerConfig
from tests.adapters.rest.conftest import ACME_KEY, bearer, config
from tests.adapters.rpc.client import RpcClient
from tests.adapters.server import running_server
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.objects_client import DOWNLOAD, UPLOAD, Objects
from tests.conftest import BACKENDS
from tests.databases import PostgresDatabases, SqliteDatabases
from tests.records.helpers import record
from tests.test_cli import SCRIPT

MARKER = "Xy9ErasedPersonalDatum"
MESSAGE_VALUE = {
    "type": "message",
    "message": {
        "role": "user",
        "content": [{"type": "text", "text": f"call me {MARKER}"}],
        "attributes": {"id": "m-1", "created_at": 1780000000000, "syntax_mode": "text"},
        "providers": [],
    },
}
SESSION_DELETED = 802
RESUME_FAILED = (4400, "failed to resume session")
CONFIG_TOML = """
[[tenants]]
name = "acme"
namespace = "acme"
app_name = "Acme"
app_version = "1"
encrypt = true
"""


def encrypting_config() -> ServerConfig:
    base = config()
    tenants = tuple(t.model_copy(update={"encrypt": t.name == "acme"}) for t in base.tenants)
    return base.model_copy(update={"tenants": tenants})


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of one server per backend, its `acme` tenant encrypting."""
    if request.param == "sqlite":
        databases: SqliteDatabases | PostgresDatabases = request.getfixturevalue("sqlite_databases")
    else:
        databases = request.getfixturevalue("shared_postgres")
    url = databases.fresh()
    with running_server(url, encrypting_config(), migrate=False) as base:
        yield base, url


@pytest.fixture
def acme(served: tuple[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served[0], headers=bearer(ACME_KEY), timeout=30) as client:
        yield client


def erase(served: tuple[str, str], sid: str, tmp_path: Path) -> dict[str, object]:
    """`session-engine erase` in its own process, against the server's database."""
    config_file = tmp_path / "server.toml"
    config_file.write_text(CONFIG_TOML)
    done = subprocess.run(
        [SCRIPT, "erase", sid, "-n", "acme", "--config", str(config_file), "--database", served[1], "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = orjson.loads(done.stdout)
    return answer


def get(acme: httpx.Client, path: str, **params: object) -> httpx.Response:
    answer = acme.get(path, params=params)
    assert answer.status_code < 500, answer.text
    assert MARKER not in answer.text, (path, answer.text)
    return answer


def test_every_read_route_shows_an_erased_session_as_erased(
    acme: httpx.Client, served: tuple[str, str], tmp_path: Path, sid: str
) -> None:
    assert acme.post(f"/v1/sessions/{sid}/values", json={"key": "k", "value": MARKER}).status_code == 204
    assert acme.put(f"/api/records/{sid}", json={**record(sid), "title": MARKER}).json()["success"] is True
    assert acme.put(f"/api/sessions/{sid}/objects/doc", json=MESSAGE_VALUE).status_code == 200
    before = acme.get(f"/api/sessions/{sid}/events", params={"limit": 100}).json()["events"]
    assert MARKER in orjson.dumps(before).decode()  # readable until erased

    done = erase(served, sid, tmp_path)
    assert done["keys_destroyed"] == 1 and done["session"] == sid

    events = get(acme, f"/api/sessions/{sid}/events", limit=100).json()["events"]
    assert [(e["version"], e["type"]) for e in events[: len(before)]] == [
        (e["version"], e["type"]) for e in before
    ]
    assert [e["type"] for e in events[len(before) :]] == ["session_record_deleted", "session_erased"]
    assert all(e["data"] == {"erased": True} for e in events[:-1])
    get(acme, f"/api/sessions/{sid}/history")
    get(acme, "/api/events", after=0, limit=1000)
    get(acme, f"/api/sessions/{sid}/state", version=len(before))
    get(acme, f"/api/sessions/{sid}/diff", a="1", b=str(len(events)))
    assert sid in get(acme, "/api/sessions").text
    assert get(acme, f"/v1/sessions/{sid}/values/k").json() == {"value": None}  # Distri: no such value
    assert get(acme, f"/api/records/{sid}").json()["error"]["code"] == "not_found"
    assert get(acme, f"/api/sessions/{sid}/objects/doc").status_code == 404
    assert acme.get("/api/chain").json()["intact"] is True

    # Late writes are refused; the explicit recreate starts afresh.
    late = acme.post(f"/v1/sessions/{sid}/values", json={"key": "k", "value": "late"})
    assert late.status_code == 410, late.text
    upload = acme.put(f"/api/sessions/{sid}/objects/doc", json=MESSAGE_VALUE)
    assert upload.status_code == 410 and upload.json()["error"]["code"] == "session_deleted"
    url = served[0].replace("http://", "ws://") + "/rpc"
    with RpcClient(url, additional_headers={"Authorization": f"Bearer {ACME_KEY}"}) as rpc:
        answer = rpc.request(
            "upload_session_object", {"session_id": sid, "alias": "d", "value": MESSAGE_VALUE}
        )
    assert answer["error"]["code"] == 410, answer
    again = acme.post(f"/v1/sessions/{sid}/values", json={"key": "k", "value": "fresh", "recreate": True})
    assert again.status_code == 204, again.text
    assert acme.get(f"/v1/sessions/{sid}/values/k").json() == {"value": "fresh"}


def test_the_websocket_cannot_write_to_or_resume_an_erased_session(
    served: tuple[str, str], tmp_path: Path
) -> None:
    ws_url = served[0].replace("http://", "ws://") + "/ws"
    with Objects(ws_url) as live:
        live.ok(UPLOAD, alias="doc", value=MESSAGE_VALUE)
        sid = live.ok(DOWNLOAD, alias="doc")["session_id"]
        erase(served, sid, tmp_path)
        assert live.packet(12, key="k", value="v", ttl=0)["status"] == SESSION_DELETED
        live.refused(UPLOAD, SESSION_DELETED, "session_deleted", alias="doc", value=MESSAGE_VALUE)

    with Objects(ws_url) as parked:
        parked.ok(UPLOAD, alias="doc", value=MESSAGE_VALUE)
        sid = parked.ok(DOWNLOAD, alias="doc")["session_id"]
        resume_id = parked.resume_id
    erase(served, sid, tmp_path)
    with Client(ws_url, resume_id=resume_id) as resumed:
        assert resumed.closed_with() == RESUME_FAILED
    with httpx.Client(base_url=served[0], headers=bearer(ACME_KEY), timeout=30) as acme:
        events = get(acme, f"/api/sessions/{sid}/events", limit=100).json()["events"]
    assert "connection_session_resumed" not in [e["type"] for e in events]
