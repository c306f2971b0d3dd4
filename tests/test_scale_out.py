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
from websockets.sync.client import connect

from session_engine.engine import Engine
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
