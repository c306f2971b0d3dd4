"""Nothing acknowledged is lost: a writer killed with SIGKILL under load loses no acknowledged write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from session_engine.engine import Engine

pytestmark = pytest.mark.anyio

CHILD = textwrap.dedent(
    """
    import os, sys, anyio
    from session_engine.engine import Engine, NewEvent

    url, acks_path = sys.argv[1], sys.argv[2]
    acks = os.open(acks_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)

    async def writer(engine, i):
        n = 0
        while True:
            event = NewEvent("noted", {"i": i, "n": n, "pad": "x" * 200})
            result = await engine.append("ns", f"w{i}", [event])
            # Recorded only after the engine acknowledged the write.
            os.write(acks, f"w{i} {result.first_version} {result.first_position}\\n".encode())
            n += 1

    async def main():
        async with Engine.open(url, migrate=False) as engine:
            async with anyio.create_task_group() as tasks:
                for i in range(16):
                    tasks.start_soon(writer, engine, i)

    anyio.run(main)
    """
)


def acknowledged(path: Path) -> list[tuple[str, int, int]]:
    lines = path.read_text().splitlines() if path.exists() else []
    return [(s, int(v), int(p)) for s, v, p in (line.split() for line in lines if line.count(" ") == 2)]


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_write(database_url: str, tmp_path: Path) -> None:
    acks = tmp_path / "acks.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, database_url, str(acks)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged(acks)) < 2000:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else "child died"
            assert time.monotonic() < deadline, "the child acknowledged too few writes in 60 s"
            await anyio.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    acked = acknowledged(acks)

    async with Engine.open(database_url, migrate=False) as engine:
        log = await engine.read_all(after=0, limit=1_000_000)
        stored = {(e.stream, e.version, e.position) for e in log}
        missing = [a for a in acked if a not in stored]
        assert missing == [], f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        assert [e.position for e in log] == list(range(1, len(log) + 1))
        assert await engine.verify() == []
