"""Several processes on one database: a process opening while another writes replays nothing twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import anyio
import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from session_engine.engine import Engine
from tests.adapters.server import close_frame
from tests.adapters.test_observability import CONFIG, SECRET_KEY
from tests.adapters.test_operations import served
from tests.databases import PostgresDatabases

pytestmark = pytest.mark.anyio

WRITER = textwrap.dedent(
    """
    import sys, anyio
    from pathlib import Path
    from session_engine.engine import Engine

    url, ready = sys.argv[1], Path(sys.argv[2])

    async def writer(engine, i):
        n = 0
        while True:
            message = {"role": "user", "content": [{"type": "text", "text": f"w{i} n{n}"}]}
            await engine.objects.upload("ns", f"s{i}-{n}", "m", {"type": "message", "message": message})
            n += 1
            ready.touch()

    async def main():
        async with Engine.open(url, migrate=False) as engine:
            async with anyio.create_task_group() as tasks:
                for i in range(8):
                    tasks.start_soon(writer, engine, i)

    anyio.run(main)
    """
)

OPENS = 40


@pytest.mark.slow
async def test_opens_racing_a_writer_in_another_process_replay_nothing_twice(
    database_url: str, tmp_path: Path
) -> None:
    """The open reads the projection checkpoints under the log lock: read before it, a checkpoint
    can be older than the rows another process projected meanwhile, and their replay collides."""
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", WRITER, database_url, str(ready)], stderr=subprocess.PIPE)
    failures: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else "writer died"
            assert time.monotonic() < deadline, "the writer wrote nothing in 60 s"
            await anyio.sleep(0.05)
        for _ in range(OPENS):
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else "writer died"
            try:
                async with Engine.open(database_url, migrate=False) as engine:
                    await engine.head()
            except Exception as error:  # noqa: BLE001 - counted: every failed open is reported
                failures.append(f"{type(error).__name__}: {str(error).splitlines()[0]}")
    finally:
        child.kill()
        child.wait()
    assert failures == [], f"{len(failures)} of {OPENS} opens failed, e.g. {failures[:3]}"
    async with Engine.open(database_url, migrate=False) as engine:
        assert await engine.verify() == []


UPLOADS = 60
WORKER_UPLOADS = 30
KEY = SECRET_KEY
KEYED = {"X-Api-Key": KEY}


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_database(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    """Two `serve` processes, writers through both: every write lands once, positions stay gap-free,
    each serves what the other wrote, and a subscriber on one sees the other's writes in order."""
    url = postgres_databases.fresh()
    with (
        served(tmp_path, database=url) as first,
        served(tmp_path, database=url) as second,
        connect(first.base.replace("http", "ws") + "/rpc", open_timeout=10) as subscriber,
    ):
        bases = [first.base, second.base]
        subscriber.send(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": 0, "method": "subscription/add", "params": {"scope_id": "default"}}
            ).decode()
        )
        assert orjson.loads(subscriber.recv(timeout=10)) == {"jsonrpc": "2.0", "id": 0, "result": {}}

        def write(writer: int) -> None:
            with httpx.Client() as client:
                for n in range(UPLOADS):
                    message = {"role": "user", "content": [{"type": "text", "text": f"{writer}-{n}"}]}
                    params = {
                        "session_id": f"w{writer}",
                        "alias": f"a{n}",
                        "value": {"type": "message", "message": message},
                    }
                    call = {"jsonrpc": "2.0", "id": n, "method": "upload_session_object", "params": params}
                    answer = client.post(bases[(writer + n) % 2] + "/rpc", json=call).json()
                    assert answer.get("result") == {}, answer

        threads = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for base in bases:
            for writer in range(4):
                listed = httpx.post(
                    base + "/rpc",
                    json={
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "list_session_objects",
                        "params": {"session_id": f"w{writer}"},
                    },
                ).json()["result"]
                assert len(listed["objects"]) == UPLOADS, listed
        pushed = [orjson.loads(subscriber.recv(timeout=30))["params"] for _ in range(4 * UPLOADS)]
        ids = [event["id"] for event in pushed]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        first.stop()
        second.stop()

    async def check() -> None:
        async with Engine.open(url, migrate=False) as engine:
            log = await engine.read_all(after=0, limit=100_000)
            assert [e.position for e in log] == list(range(1, len(log) + 1))
            assert len({(e.stream, e.version) for e in log}) == len(log)
            assert await engine.verify() == []

    anyio.run(check)


def upload(base: str, session: str, n: int) -> None:
    """One upload on a connection of its own (so connections spread over a server's workers)."""
    message = {"role": "user", "content": [{"type": "text", "text": f"{session}-{n}"}]}
    params = {"session_id": session, "alias": f"a{n}", "value": {"type": "message", "message": message}}
    call = {"jsonrpc": "2.0", "id": n, "method": "upload_session_object", "params": params}
    answer = httpx.post(base + "/rpc", json=call, headers=KEYED, timeout=30).json()
    assert answer.get("result") == {}, answer


def listed(base: str, session: str) -> int:
    call = {"jsonrpc": "2.0", "id": 1, "method": "list_session_objects", "params": {"session_id": session}}
    return len(httpx.post(base + "/rpc", json=call, headers=KEYED, timeout=30).json()["result"]["objects"])


@pytest.mark.postgres
def test_serve_with_two_workers_on_one_postgresql_database(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    """`serve --workers 2`: two processes accept on the one port; writers through it land once
    each, in gap-free positions, and the supervisor stops both gracefully."""
    url = postgres_databases.fresh()
    with served(tmp_path, CONFIG, database=url, arguments=["--workers", "2"]) as server:

        def write(writer: int) -> None:
            for n in range(WORKER_UPLOADS):
                upload(server.base, f"w{writer}", n)

        threads = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [listed(server.base, f"w{writer}") for writer in range(4)] == [WORKER_UPLOADS] * 4
        lines = server.stop()
    entries = [orjson.loads(line) for line in lines if line.startswith("{")]
    workers = {entry["worker_pid"] for entry in entries if entry["message"] == "worker started"}
    answering = {entry["pid"] for entry in entries if entry["message"] == "request"}
    assert len(workers) == 2 and answering == workers  # both workers answered requests
    stopped = [entry["pid"] for entry in entries if entry["message"] == "server stopped"]
    assert sorted(stopped) == sorted([*workers, server.process.pid])  # each worker, then the supervisor

    async def check() -> None:
        async with Engine.open(url, migrate=False) as engine:
            log = await engine.read_all(after=0, limit=100_000)
            assert [e.position for e in log] == list(range(1, len(log) + 1))
            assert await engine.verify() == []

    anyio.run(check)


@pytest.mark.postgres
def test_a_resume_id_is_refused_clearly_by_another_process(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    """Parked sessions live in the process that issued the `Resume-Id`: another process closes
    4401 saying so, and the issuing one still resumes the session (once)."""
    url = postgres_databases.fresh()
    with served(tmp_path, CONFIG, database=url) as first, served(tmp_path, CONFIG, database=url) as second:
        with connect(first.base.replace("http", "ws") + "/ws", open_timeout=10) as ws:
            resume_id = ws.response.headers["Resume-Id"]
            init = {"type": 0, "id": 1, "client_id": "desktop-main", "websocket_api_key": KEY}
            ws.send(orjson.dumps(init).decode())
            assert orjson.loads(ws.recv(timeout=10))["status"] == 1
            ws.send(orjson.dumps({"type": 12, "id": 2, "key": "k", "value": "kept", "ttl": 0}).decode())
            assert orjson.loads(ws.recv(timeout=10))["status"] == 1
        elsewhere = {"Resume-Id": resume_id}
        with connect(second.base.replace("http", "ws") + "/ws", additional_headers=elsewhere) as refused:
            assert close_frame(refused, 10) == (4401, "resume ID was not issued by this server process")
        deadline = time.monotonic() + 10
        while True:  # the disconnect is recorded just after the client left
            with connect(first.base.replace("http", "ws") + "/ws", additional_headers=elsewhere) as resumed:
                try:
                    resumed.send(orjson.dumps({"type": 13, "id": 3, "key": "k"}).decode())
                    answer = orjson.loads(resumed.recv(timeout=10))
                    break
                except ConnectionClosed:
                    assert time.monotonic() < deadline, "the issuing process never resumed the session"
        assert answer["status"] == 1 and answer["value"] == "kept"
        with connect(first.base.replace("http", "ws") + "/ws", additional_headers=elsewhere) as refused:
            assert close_frame(refused, 10) == (4401, "resume ID was not found or it is expired")  # used
