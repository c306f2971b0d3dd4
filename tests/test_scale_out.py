"""Several processes on one database: a process opening while another writes replays nothing twice."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from session_engine.engine import Engine
from session_engine.engine.backends import normalise_url
from session_engine.engine.parking import parked_sessions, secret_hash
from tests.adapters.server import close_frame
from tests.adapters.test_observability import CONFIG, SECRET_KEY
from tests.adapters.test_operations import Served, scraped, served
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


RESUMABLE = (
    CONFIG
    + """
[limits]
resume_window_seconds = {window}
rate_limit_actions = 6
"""
)
NOT_FOUND = (4401, "resume ID was not found or it is expired")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One database for two server processes: a PostgreSQL database, or one SQLite file."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    return databases.fresh()


@contextlib.contextmanager
def two_servers(tmp_path: Path, config: str, url: str) -> Iterator[tuple[Served, Served]]:
    with served(tmp_path, config, database=url) as first, served(tmp_path, config, database=url) as second:
        yield first, second


def race(resume_id: str, *servers: Served) -> list[object]:
    """Bring `resume_id` to every server at once; what each got: its answer to a get, or its close."""
    barrier = threading.Barrier(len(servers))
    outcomes: list[object] = [None] * len(servers)

    def claim(index: int) -> None:
        barrier.wait(timeout=10)
        with ws(servers[index], resume_id) as client:
            try:
                outcomes[index] = call(client, {"type": 13, "id": 3, "key": "k"})
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                outcomes[index] = (closed.rcvd.code, closed.rcvd.reason)

    threads = [threading.Thread(target=claim, args=(index,)) for index in range(len(servers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def ws(server: Served, resume_id: str | None = None) -> ClientConnection:
    headers = None if resume_id is None else {"Resume-Id": resume_id}
    return connect(server.base.replace("http", "ws") + "/ws", additional_headers=headers, open_timeout=10)


def call(client: ClientConnection, packet: dict[str, Any]) -> dict[str, Any]:
    client.send(orjson.dumps(packet).decode())
    answer: dict[str, Any] = orjson.loads(client.recv(timeout=10))
    return answer


def session_with_a_value(server: Served) -> str:
    """A session initialized on `server` holding k = "kept", left by its client: its resume id."""
    with ws(server) as client:
        resume_id = client.response.headers["Resume-Id"]
        init = {"type": 0, "id": 1, "client_id": "desktop-main", "websocket_api_key": KEY}
        assert call(client, init)["status"] == 1
        assert call(client, {"type": 12, "id": 2, "key": "k", "value": "kept", "ttl": 0})["status"] == 1
    return str(resume_id)


def parked(url: str, resume_id: str) -> bool:
    """Whether the session `resume_id` names is parked in the database now (read by the test)."""
    database = sa.create_engine(normalise_url(url))
    try:
        with database.connect() as connection:
            query = sa.select(parked_sessions.c.session_id).where(
                parked_sessions.c.secret_hash == secret_hash(resume_id)
            )
            return connection.execute(query).first() is not None
    finally:
        database.dispose()


def wait_until_parked(url: str, resume_id: str) -> None:
    """The process the client left parks its session just after the close (once `disconnect` is
    committed): a reconnection to another process before that finds nothing (specs/operations.md)."""
    deadline = time.monotonic() + 30
    while not parked(url, resume_id):
        assert time.monotonic() < deadline, "the session was never parked"
        time.sleep(0.02)


def parked_on(url: str, *servers: Served) -> list[str]:
    """A session with a value left on each of `servers` in turn, once each is parked: their ids."""
    resume_ids = [session_with_a_value(server) for server in servers]
    for resume_id in resume_ids:
        wait_until_parked(url, resume_id)
    return resume_ids


def ended_reasons(url: str) -> list[str]:
    """The reasons of every `connection_session_ended` event in the log."""

    async def read() -> list[str]:
        async with Engine.open(url, migrate=False) as engine:
            events = await engine.read_all(after=0, limit=100_000)
        return [e.data["reason"] for e in events if e.type == "connection_session_ended"]

    return anyio.run(read)


def test_a_session_resumes_on_another_process(shared_url: str, tmp_path: Path) -> None:
    """A session left on one process is taken back through another, with its values and its rate
    window; its id is used up on both, and the new id brings it back to the first."""
    config = RESUMABLE.format(window=60)
    with (
        served(tmp_path, config, database=shared_url) as first,
        served(tmp_path, config, database=shared_url) as second,
    ):
        [resume_id] = parked_on(shared_url, first)  # 2 actions of 6
        with ws(second, resume_id) as resumed:
            again = resumed.response.headers["Resume-Id"]
            assert call(resumed, {"type": 13, "id": 3, "key": "k"}) == {"id": 3, "status": 1, "value": "kept"}
            assert call(resumed, {"type": 12, "id": 4, "key": "j", "value": "new", "ttl": 0})["status"] == 1
        for server in (first, second):
            with ws(server, resume_id) as used:
                assert close_frame(used, 10) == NOT_FOUND
        wait_until_parked(shared_url, again)
        with ws(first, again) as back:  # 4 actions so far: the 7th is over the limit, wherever it runs
            assert call(back, {"type": 13, "id": 5, "key": "j"})["value"] == "new"
            assert call(back, {"type": 13, "id": 6, "key": "k"})["value"] == "kept"
            back.send(orjson.dumps({"type": 13, "id": 7, "key": "k"}).decode())
            assert close_frame(back, 10) == (4201, "rate limit hit")
        first.stop()
        second.stop()
    assert ended_reasons(shared_url) == ["closed 4201"]


def test_a_client_that_reconnects_at_once_through_another_process_resumes(
    shared_url: str, tmp_path: Path
) -> None:
    """The client closes and at once brings its id to the other process, before the first has
    parked the session: the other process looks for it (resume_grace_seconds) and resumes it."""
    config = RESUMABLE.format(window=60)
    with two_servers(tmp_path, config, shared_url) as (first, second):
        for round_ in range(5):
            resume_id = session_with_a_value(first)
            with ws(second, resume_id) as resumed:
                assert call(resumed, {"type": 13, "id": 3, "key": "k"}) == {
                    "id": 3,
                    "status": 1,
                    "value": "kept",
                }, round_
        first.stop()
        second.stop()


def test_racing_claims_of_one_resume_id_on_two_processes_one_wins(shared_url: str, tmp_path: Path) -> None:
    """Two clients bring one resume id to two processes at once: one gets the session, the other
    is closed 4401; the same again, many times."""
    config = RESUMABLE.format(window=60)
    with (
        served(tmp_path, config, database=shared_url) as first,
        served(tmp_path, config, database=shared_url) as second,
    ):
        for _ in range(8):
            [resume_id] = parked_on(shared_url, first)
            outcomes = race(resume_id, first, second)
            won = {"id": 3, "status": 1, "value": "kept"}
            assert sorted(outcomes, key=repr) == sorted([won, NOT_FOUND], key=repr), outcomes
        first.stop()
        second.stop()


def test_expiry_and_a_crashed_process_sessions_across_processes(shared_url: str, tmp_path: Path) -> None:
    """A process killed with sessions parked: another resumes them within their window, and ends
    the ones nobody claimed once it passes (the dead process cannot)."""
    config = RESUMABLE.format(window=3)
    with (
        served(tmp_path, config, database=shared_url) as first,
        served(tmp_path, config, database=shared_url) as second,
    ):
        kept, abandoned = parked_on(shared_url, first, first)
        first.kill()
        with ws(second, kept) as resumed:
            assert call(resumed, {"type": 13, "id": 3, "key": "k"})["value"] == "kept"
        deadline = time.monotonic() + 30
        while parked(shared_url, abandoned) or parked(shared_url, kept):  # expired, then reaped
            assert time.monotonic() < deadline, "no process reaped the expired sessions"
            time.sleep(0.05)
        with ws(second, abandoned) as late:
            assert close_frame(late, 10) == NOT_FOUND
        second.stop()
    assert sorted(ended_reasons(shared_url)) == ["resumption window expired"] * 2


def test_a_graceful_stop_ends_the_sessions_its_process_parked(shared_url: str, tmp_path: Path) -> None:
    """An id from before its process restarted is refused on every process; the sessions another
    process parked stay resumable."""
    config = RESUMABLE.format(window=60)
    with (
        served(tmp_path, config, database=shared_url) as first,
        served(tmp_path, config, database=shared_url) as second,
    ):
        mine, theirs = parked_on(shared_url, first, second)
        first.stop()
        with ws(second, mine) as gone:
            assert close_frame(gone, 10) == NOT_FOUND
        assert ended_reasons(shared_url) == ["server shutdown"]
        with ws(second, theirs) as resumed:
            assert call(resumed, {"type": 13, "id": 3, "key": "k"})["value"] == "kept"
        second.stop()


def log_entries(server: Served) -> list[dict[str, Any]]:
    lines = server.log_path.read_text().splitlines()
    return [orjson.loads(line) for line in lines if line.startswith("{")]


def scrapes_of_both_workers(server: Served, workers: set[int]) -> list[Samples]:
    """Scrape on fresh connections until each worker has answered at least once (the kernel hands
    each connection to one of them); every scrape's samples."""
    found: list[Samples] = []
    for _ in range(200):
        found.append(scraped(server.base))
        answered = {e["pid"] for e in log_entries(server) if e.get("operation") == "GET /metrics"}
        if answered >= workers:
            return found
    raise AssertionError("one worker answered every scrape")


@pytest.mark.postgres
def test_a_scrape_of_serve_with_two_workers_sums_both(
    postgres_databases: PostgresDatabases, tmp_path: Path
) -> None:
    """`/metrics` under `serve --workers 2`: whichever worker answers, the counts of the requests
    both answered add up; a worker that dies and is started again takes none of them away."""
    url = postgres_databases.fresh()
    with served(tmp_path, CONFIG, database=url, arguments=["--workers", "2"]) as server:
        uploads = 0

        def upload_until_both_answered() -> set[int]:
            nonlocal uploads
            while True:
                assert uploads < 200, "one worker answered every upload"
                upload(server.base, "metered", uploads)
                uploads += 1
                answering = {
                    e["pid"] for e in log_entries(server) if e.get("operation") == "upload_session_object"
                }
                if len(answering) == 2 and uploads >= 10:
                    return answering

        workers = upload_until_both_answered()
        ok = (("code", "ok"), ("surface", "jsonrpc"))
        uploaded = (("command", "UploadObject"), ("outcome", "ok"))
        for samples in scrapes_of_both_workers(server, workers):
            assert samples[("session_engine_answers_total", ok)] == uploads
            assert samples[("session_engine_commands_total", uploaded)] == uploads
            assert samples[("session_engine_request_seconds_count", (("surface", "jsonrpc"),))] == uploads
            assert samples[("session_engine_subscription_lag_events_gcount", ())] == 0
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:  # the supervisor starts another worker in its place
            started = {e["worker_pid"] for e in log_entries(server) if e["message"] == "worker started"}
            if len(started) == 3:
                break
            assert time.monotonic() < deadline, "no worker was started in the dead one's place"
            time.sleep(0.05)
        workers = (workers - {victim}) | (started - workers)
        for n in range(4):
            upload(server.base, "metered", uploads + n)
        uploads += 4
        for samples in scrapes_of_both_workers(server, workers):
            assert samples[("session_engine_answers_total", ok)] == uploads
            assert samples[("session_engine_commands_total", uploaded)] == uploads
        server.stop()
