"""The server: health and readiness, graceful shutdown, configuration, and `session-engine serve`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from session_engine.adapters.cli.serve import resolve
from session_engine.adapters.config import (
    ConfigError,
    ServerConfig,
    development_config,
    load_config,
    parse_config,
)
from session_engine.engine import Engine
from session_engine.engine.backends import normalise_url
from session_engine.engine.unit_of_work import UnitOfWork
from tests.adapters.rpc.client import BusClient, RpcClient
from tests.adapters.rpc.conftest import make_config as rpc_config
from tests.adapters.server import ServerThread, running_server
from tests.adapters.websocket.client import Client
from tests.adapters.websocket.conftest import ACME_KEY, make_config
from tests.databases import SqliteDatabases

ROOT = Path(__file__).absolute().parents[2]


def test_health_and_readiness(sqlite_databases: SqliteDatabases) -> None:
    with running_server(sqlite_databases.fresh(), make_config(), migrate=False) as base:
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert httpx.get(f"{base}/nope").status_code == 404


def test_graceful_shutdown_closes_websockets_with_1000(sqlite_databases: SqliteDatabases) -> None:
    """Every websocket surface (`/ws`, `/bus`, `/rpc`) closes with 1000 on shutdown, not uvicorn's 1012."""
    server = ServerThread(sqlite_databases.fresh(), rpc_config(), migrate=False)
    base = server.start().replace("http://", "ws://")
    url = base + "/ws"
    with (
        Client(url) as idle,
        Client(url) as busy,
        BusClient(base + "/bus") as bus,
        RpcClient(base + "/rpc", additional_headers={"Authorization": f"Bearer {ACME_KEY}"}) as rpc,
    ):
        assert busy.initialize(ACME_KEY)["status"] == 1
        assert busy.call(12, 2, key="k", value="v", ttl=0)["status"] == 1
        assert rpc.call("list_session_objects", session_id="s") is not None
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 5
        assert idle.closed_with() == (1000, "")
        assert busy.closed_with() == (1000, "")
        assert bus.closed_with()[0] == 1000
        assert rpc.closed_with()[0] == 1000


def test_a_write_in_flight_at_shutdown_commits_and_is_answered(
    sqlite_databases: SqliteDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown begins while a set is inside its batch: the set still commits, its answer (status 1)
    reaches the client before the close with 1000, and the value is in the log afterwards."""
    url = sqlite_databases.fresh()
    inside, release = threading.Event(), threading.Event()
    original = UnitOfWork.finish

    def held(self: UnitOfWork, *args: Any, **kwargs: Any) -> None:
        if any(event.data.get("key") == "in-flight" for event in self.recorded):
            inside.set()
            release.wait(10)
        original(self, *args, **kwargs)

    monkeypatch.setattr(UnitOfWork, "finish", held)
    server = ServerThread(url, make_config(), migrate=False)
    base = server.start().replace("http://", "ws://")
    with Client(base + "/ws") as client:
        assert client.initialize(ACME_KEY)["status"] == 1
        client.send({"type": 12, "id": 2, "key": "in-flight", "value": "v", "ttl": 0})
        assert inside.wait(10), "the set never reached the writer"
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        time.sleep(0.3)  # the server is shutting down, the set still held in its batch
        release.set()
        assert client.receive() == {"id": 2, "status": 1}
        assert client.closed_with() == (1000, "")
        stopping.join(30)
    assert not stopping.is_alive()

    async def logged() -> list[str]:
        async with Engine.open(url, migrate=False) as engine:
            return [e.data.get("key", "") for e in await engine.read_all(types=["value_set"])]

    assert anyio.run(logged) == ["in-flight"]


def test_example_configuration_in_the_spec_is_valid() -> None:
    text = (ROOT / "specs" / "server-config.md").read_text()
    example = re.search(r"```toml\n(.*?)```", text, re.S)
    assert example is not None
    import tomllib

    config = parse_config(tomllib.loads(example.group(1)))
    assert config.tenant_for_key("BA0123456789ABCDEFGHI") is not None
    assert config.limits.rate_limit_actions == 60


def test_load_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(path)
    path.write_text("[[tenants]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)
    path.write_text('[[tenants]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_config(path)
    tenant = 'name = "{n}"\nnamespace = "{n}"\napp_name = "A"\napp_version = "1"\napi_keys = ["{k}"]\n'
    path.write_text(
        "[[tenants]]\n"
        + tenant.format(n="a", k="K" * 21)
        + "[[tenants]]\n"
        + tenant.format(n="b", k="K" * 21)
    )
    with pytest.raises(ConfigError, match="one tenant only"):
        load_config(path)
    path.write_text("[[tenants]]\n" + tenant.format(n="a", k="K" * 21) + "[limits]\nunknown_limit = 1\n")
    with pytest.raises(ConfigError, match="unknown_limit"):
        load_config(path)


def test_without_a_database_the_server_uses_the_embedded_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` gives no database: `session-engine.db` in the working directory, an SQLite file."""
    monkeypatch.delenv("SESSION_ENGINE_DATABASE", raising=False)
    assert resolve(None, None, None, None)[3] is None
    url = normalise_url(None)
    assert (url.get_backend_name(), url.database) == ("sqlite", "session-engine.db")


def test_development_defaults_and_precedence(tmp_path: Path) -> None:
    config = development_config()
    (tenant,) = config.tenants
    assert tenant.anonymous and len(tenant.api_keys[0]) == 21 and config.anonymous_tenant is tenant
    assert development_config().tenants[0].api_keys != config.tenants[0].api_keys
    resolved, host, port, database = resolve(None, None, None, None)
    assert (host, port, database, resolved.development) == ("127.0.0.1", 8787, None, True)
    with pytest.raises(ConfigError, match="refusing to listen"):
        resolve(None, "0.0.0.0", None, None)
    path = tmp_path / "server.toml"
    path.write_text(
        '[server]\nhost = "0.0.0.0"\nport = 9000\ndatabase = "sqlite:///x.db"\n'
        '[[tenants]]\nname = "a"\nnamespace = "a"\napp_name = "A"\napp_version = "1"\n'
    )
    resolved, host, port, database = resolve(str(path), None, None, None)
    assert (host, port, database) == ("0.0.0.0", 9000, "sqlite:///x.db")
    assert resolve(str(path), "127.0.0.2", 9001, "sqlite:///y.db")[1:] == (
        "127.0.0.2",
        9001,
        "sqlite:///y.db",
    )
    assert isinstance(resolved, ServerConfig) and not resolved.development


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_command_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve", "--port", str(port)]
    env = {**os.environ, "SESSION_ENGINE_DATABASE": f"sqlite:///{tmp_path / 'serve.db'}"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        key = bus_secret = None
        deadline = time.monotonic() + 30
        while key is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"websocket API key (\w{21})", line)
            key = found.group(1) if found else None
            printed = re.search(r"bus secret (\S+)", line)
            bus_secret = printed.group(1) if printed else None
        assert key is not None, "the development key was not printed"
        assert bus_secret is not None, "the development bus secret was not printed beside the key"
        base = f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        with Client(f"ws://127.0.0.1:{port}/ws") as client:
            assert client.initialize(key) == {
                "id": 1,
                "status": 1,
                "app_name": "session-engine",
                "app_version": "dev",
            }
        with BusClient(f"ws://127.0.0.1:{port}/bus", secret=bus_secret) as bus:  # /bus is usable
            assert bus.call("getStatusCounts", {})["all"] == 0
        with Client(f"ws://127.0.0.1:{port}/ws") as client:
            assert client.initialize(None)["status"] == 1  # the development tenant is anonymous
            process.send_signal(signal.SIGINT)
            assert client.closed_with() == (1000, "")
        assert process.wait(timeout=20) == 0
        logs = process.stderr.read()
        assert '"logger":"session_engine.websocket"' in logs and '"message":"engine closed"' in logs
    finally:
        process.kill()
        process.wait()


def test_serve_refuses_a_public_host_without_configuration() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "session_engine.adapters.cli.main", "serve", "--host", "0.0.0.0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "refusing to listen" in result.stderr


def test_the_server_purges_expired_values_by_events(sqlite_databases: SqliteDatabases) -> None:
    """`[server] purge_expired_seconds`: expired values' rows leave the read model on their own,
    each session's by a recorded `values_expired` event."""
    from datetime import UTC, datetime, timedelta

    config = make_config()
    config = config.model_copy(
        update={"server": config.server.model_copy(update={"purge_expired_seconds": 0.1})}
    )
    headers = {"Authorization": f"Bearer {ACME_KEY}"}
    with running_server(sqlite_databases.fresh(), config, migrate=False) as base:
        soon = (datetime.now(UTC) + timedelta(seconds=0.3)).isoformat().replace("+00:00", "Z")
        answer = httpx.post(
            f"{base}/v1/sessions/purged/values",
            json={"key": "k", "value": 1, "expiry": soon},
            headers=headers,
        )
        assert answer.status_code == 204
        deadline = time.monotonic() + 10
        types: list[str] = []
        while "values_expired" not in types and time.monotonic() < deadline:
            time.sleep(0.1)
            events = httpx.get(f"{base}/api/sessions/purged/events", headers=headers).json()["events"]
            types = [event["type"] for event in events]
        assert types == ["value_set", "values_expired"]
