"""Several processes on one database: a process opening while another writes replays nothing twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from session_engine.engine import Engine

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
