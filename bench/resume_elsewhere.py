"""How often a client that reconnects at once to another process finds its session parked.

Two `serve` processes on one database (a fresh SQLite file, or PostgreSQL with `--postgres`). Each
trial: a client initializes on the first and closes; then it reconnects with its
`Resume-Id` to the second, at once (`--pause 0`) or after `--pause` seconds. The first parks the
session once its `disconnect` has committed (specs/operations.md): a reconnection that arrives
before that finds nothing (4401). The baseline, same run: the same reconnection to the first
process, which waits for its own parking.

    python -m bench.resume_elsewhere [--trials 40] [--pause 0] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bench.common import BENCH_KEY, ROOT, bench_config, free_port, postgres_database, wait_for_port


@contextlib.contextmanager
def two_servers(url: str, directory: Path) -> Iterator[tuple[int, int]]:
    path = directory / "server.toml"
    path.write_text(bench_config("full"))
    ports, processes = [free_port(), free_port()], []
    env = {**os.environ, "SESSION_ENGINE_DATABASE": url}
    try:
        for port in ports:
            command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve"]
            command += ["--port", str(port), "--config", str(path)]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL))
            wait_for_port(port)
        yield ports[0], ports[1]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)


def trial(first: int, then: int, pause: float) -> bool:
    """True when the session left on `first` was resumed through `then`."""
    with connect(f"ws://127.0.0.1:{first}/ws") as client:
        resume_id = client.response.headers["Resume-Id"]
        client.send(
            orjson.dumps({"type": 0, "id": 1, "client_id": "bench", "websocket_api_key": BENCH_KEY}).decode()
        )
        assert orjson.loads(client.recv(timeout=30))["status"] == 1
    time.sleep(pause)
    with connect(f"ws://127.0.0.1:{then}/ws", additional_headers={"Resume-Id": resume_id}) as client:
        try:
            client.send(orjson.dumps({"type": 13, "id": 2, "key": "k"}).decode())
            client.recv(timeout=30)
        except ConnectionClosed:
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--postgres", action="store_true")
    arguments = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="session-engine-bench-") as directory,
        contextlib.ExitStack() as stack,
    ):
        url = f"sqlite:///{Path(directory) / 'shared.db'}"
        if arguments.postgres:
            url = stack.enter_context(postgres_database())
        with two_servers(url, Path(directory)) as (first, second):
            same = sum(trial(first, first, arguments.pause) for _ in range(arguments.trials))
            other = sum(trial(first, second, arguments.pause) for _ in range(arguments.trials))
    backend = "PostgreSQL" if arguments.postgres else "SQLite"
    print(f"pause {arguments.pause} s, {arguments.trials} trials each, {backend}")
    print(f"resumed through the same process (baseline): {same}")
    print(f"resumed through the other process:           {other}")


if __name__ == "__main__":
    main()
