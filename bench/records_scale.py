"""Session records at size: list / search / status counts / children latency (p50, p99).

    python -m bench.records_scale [--sessions 100000] [--samples 200] [--backends sqlite,postgres]

Sessions and their messages are loaded as a log import: the events `records.set` and
`objects.upload` (one `messages` object per session) record, generated as JSON Lines and given to
`Engine.import_`, which rebuilds every projection from them in one transaction. Live writes are
timed separately (`set` of new sessions, many in flight so the group committer batches them).
Every 10th session is a parent of the nine after it; one session in 1,000 mentions "quokka"
(a rare term), one in 10 "harbour" (a common one).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
import sqlalchemy as sa

from bench.common import Stopwatch, command_line, latency_rows, run_backends
from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine

NS = "bench"
STATUSES = ["active", "active", "closed", "archived", "discovered"]
WORDS = [
    "apple",
    "river",
    "stone",
    "cloud",
    "paper",
    "light",
    "music",
    "garden",
    "window",
    "forest",
    "candle",
    "silver",
]


def session(i: int, rng: random.Random) -> dict[str, Any]:
    record: dict[str, Any] = {
        "sessionId": f"s{i:07d}",
        "createdAt": 1_700_000_000_000 + i,
        "lastActivityAt": 1_700_000_000_000 + rng.randrange(1_000_000) * 1000,  # ties happen
        "agents": [
            {
                "agentId": f"a{i}",
                "adapterId": "claude",
                "adapterName": "Claude",
                "sessionId": f"s{i:07d}",
                "role": "lead",
                "status": "active",
                "createdAt": 1,
                "lastActivityAt": 2,
            }
        ],
        "status": STATUSES[i % len(STATUSES)],
        "adapterSessionId": f"ad{i}",
        "title": f"Session {i} about {rng.choice(WORDS)}",
    }
    if i % 10:
        record["parentSessionId"] = f"s{i - i % 10:07d}"
    if i % 7 == 0:
        record["executionTargetId"] = f"t{i % 3}"
    return record


def conversation(i: int, rng: random.Random) -> dict[str, Any]:
    words = [rng.choice(WORDS) for _ in range(12)]
    if i % 1000 == 3:
        words.append("quokka")
    if i % 10 == 5:
        words.append("harbour")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": " ".join(words[:6])}]},
        {"role": "assistant", "content": [{"type": "text", "text": " ".join(words[6:])}]},
    ]
    return {"type": "messages", "messages": messages}


def log_lines(sessions: int) -> Iterator[bytes]:
    """The events the write path would record for each session: its record, then its messages."""
    rng = random.Random(5)
    at = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    position = 0
    for i in range(sessions):
        record = session(i, rng)
        upload = {
            "alias": "conversation",
            "value": conversation(i, rng),
            "previous": None,
            "keep_children": False,
        }
        for version, (kind, data) in enumerate(
            [
                ("session_record_set", {"record": record, "previous_status": None}),
                ("objects.object_uploaded", upload),
            ],
            start=1,
        ):
            position += 1
            line = {
                "position": position,
                "namespace": NS,
                "stream": record["sessionId"],
                "version": version,
                "type": kind,
                "schema_version": 1,
                "data": data,
                "metadata": {},
                "idempotency_key": None,
                "recorded_at": at,
            }
            yield orjson.dumps(line)


async def load(engine: Engine, url: str, sessions: int) -> float:
    with Stopwatch() as watch:
        await engine.import_(log_lines(sessions))
    await analyze(engine, url)
    return sessions / watch.seconds


async def live_sets(engine: Engine, count: int) -> float:
    """New sessions through `records.set`, all in flight at once (group commit)."""
    rng = random.Random(11)

    async def one(i: int) -> None:
        record = {**session(i, rng), "sessionId": f"live{i}"}
        await RecordSubjects(engine).set(NS, {"sessionId": record["sessionId"], "session": record})

    with Stopwatch() as watch:
        async with anyio.create_task_group() as tasks:
            for i in range(count):
                tasks.start_soon(one, i)
    return count / watch.seconds


async def analyze(engine: Engine, url: str) -> None:
    """The state a database settles in after a bulk load: fresh planner statistics (`ANALYZE`, as
    `PRAGMA optimize` keeps them on SQLite) and, on PostgreSQL, what autovacuum does within a
    minute of 200,000 inserts - `VACUUM` merges the GIN indexes' pending lists (else every search
    scans megabytes of unsorted entries) and sets the visibility map (index-only scans)."""

    def run(connection: Any) -> None:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()

    if url.startswith("postgresql"):
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
        try:
            with admin.connect() as connection:
                connection.exec_driver_sql("VACUUM (ANALYZE)")
        finally:
            admin.dispose()
    else:
        await engine.read(run)


async def run(url: str, sessions: int, samples: int) -> list[tuple[str, str]]:
    rng = random.Random(9)
    results: list[tuple[str, str]] = []
    async with Engine.open(url, migrate=False, durability="off") as engine:
        rate = await load(engine, url, sessions)
        results.append(("import + rebuild (sessions with messages / s)", f"{rate:,.0f}"))
        results.append(("live records.set, 2,000 in flight (/s)", f"{await live_sets(engine, 2000):,.0f}"))
        records = RecordSubjects(engine)
        parents = max(1, sessions // 10)
        reads: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("list first page (50)", lambda: records.list(NS, {})),
            ("list first page, status=closed", lambda: records.list(NS, {"status": "closed"})),
            ("list first page + previews", lambda: records.list(NS, {"includePreview": True})),
            ("list by executionTargetId", lambda: records.list(NS, {"executionTargetId": "t1"})),
            ("list page at offset 1,000", lambda: records.list(NS, {"offset": 1000})),
            ("search rare word (0.1%)", lambda: records.search(NS, {"query": "quokka"})),
            ("search common word (10%)", lambda: records.search(NS, {"query": "harbour"})),
            ("search common or rare word", lambda: records.search(NS, {"query": "harbour or quokka"})),
            (
                "search common word, status=active",
                lambda: records.search(NS, {"query": "harbour", "status": "active"}),
            ),
            (
                "search title phrase",
                lambda: records.search(NS, {"query": f"session {rng.randrange(sessions)} "}),
            ),
            ("getStatusCounts", lambda: records.get_status_counts(NS)),
            (
                "getChildren (9 children)",
                lambda: records.get_children(NS, {"sessionId": f"s{rng.randrange(parents) * 10:07d}"}),
            ),
            (
                "getByAdapterSessionId",
                lambda: records.get_by_adapter_session_id(
                    NS, {"adapterSessionId": f"ad{rng.randrange(sessions)}"}
                ),
            ),
        ]
        results.extend(await latency_rows(samples, reads))
    return results


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    run_backends(
        args.backends,
        run,
        args.sessions,
        args.samples,
        title=lambda backend: f"session records: {args.sessions:,} sessions on {backend}",
    )


if __name__ == "__main__":
    main()
