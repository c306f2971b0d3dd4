"""A fixed amount of records work through the `storage:session` subjects, for counting instructions
under callgrind (as `bench/append_instructions.py` does for appends).

16 workers, each a `set` then a `get` per round (and a `list` of 20 every fourth round), eight
sessions each, `durability="off"`, on a fresh SQLite file: the subjects' validation, the engine's
command and read paths and the answers' wire form, without the websocket. Run twice and divide:

    valgrind --tool=callgrind --callgrind-out-file=/tmp/small python -m bench.records_instructions \\
        --rounds 320
    valgrind --tool=callgrind --callgrind-out-file=/tmp/large python -m bench.records_instructions \\
        --rounds 1920
    # instructions per round = (Ir of large - Ir of small) / (1920 - 320)

Versions before issue 17 answered the subjects from `engine.records` itself; this file uses
whichever the code has, so it measures both.
"""

from __future__ import annotations

import argparse
from typing import Any

import anyio

from bench.common import sqlite_database
from session_engine.engine import Engine

WORKERS = 16
NS = "bench"


def _subjects(engine: Engine) -> Any:
    try:
        from session_engine.adapters.rpc.bus.subjects import RecordSubjects
    except ImportError:  # before issue 17
        return engine.records
    return RecordSubjects(engine)


def record(session_id: str, last: int) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "createdAt": 1,
        "lastActivityAt": last,
        "agents": [],
        "status": "active",
        "title": f"session {session_id}",
    }


async def rounds(url: str, total: int) -> None:
    async with Engine.open(url, durability="off") as engine:
        subjects = _subjects(engine)

        async def worker(k: int) -> None:
            for n in range(total // WORKERS):
                sid = f"s{k}-{n % 8}"
                await subjects.set(NS, {"sessionId": sid, "session": record(sid, n)})
                (await subjects.get(NS, {"sessionId": sid})).model_dump(mode="json")
                if n % 4 == 0:
                    (await subjects.list(NS, {"limit": 20})).model_dump(mode="json")

        async with anyio.create_task_group() as tasks:
            for k in range(WORKERS):
                tasks.start_soon(worker, k)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1920, help=f"a multiple of {WORKERS}")
    args = parser.parse_args()
    total = args.rounds - args.rounds % WORKERS
    with sqlite_database() as url:
        anyio.run(rounds, url, total)
    print(f"{total} rounds by {WORKERS} workers")


if __name__ == "__main__":
    main()
