"""Bounded storage on a long agent conversation (issue #22 item 4): bytes per event and database
growth over 10,000 turns, without retention and with a keep-last-N policy applied as it goes.

    python -m bench.retention_storage [--turns 10000] [--keep-last 1000] [--every 1000]
                                      [--backends sqlite,postgres]

A turn is what an agent framework stores per exchange: the user's and the assistant's messages
appended to the session's `messages` object (one event) and the session's working values set (one
event: a small JSON document under one of a few keys). So 10,000 turns are 20,000 events. With
`--keep-last N`, `Engine.retain` runs every `--every` turns (as the server's `retain_seconds`
would). Figures per checkpoint: events kept, the log's bytes (the `events` table with its
indexes), the read models' bytes, the snapshots' bytes, and the database's bytes in use; the log's
bytes per event kept. SQLite: `dbstat` page bytes; PostgreSQL: `pg_total_relation_size`, with a
plain `VACUUM` after each retention run (what autovacuum does in its own time).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import anyio
import sqlalchemy as sa

from bench.common import database, show
from session_engine.engine import Engine
from session_engine.engine.backends import normalise_url
from session_engine.engine.retention import RetentionPolicy
from session_engine.engine.schema import all_metadata

NS, S = "bench", "conversation"
LOG_TABLES = ("events",)
SNAPSHOT_TABLES = ("snapshots",)


def text(role: str, turn: int) -> dict[str, Any]:
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "the",
        "lazy",
        "dog",
        "while",
        "the",
        "agent",
        "plans",
        "its",
        "next",
        "step",
    ]
    body = " ".join(words[(turn + i) % len(words)] for i in range(40))
    return {"role": role, "content": [{"type": "text", "text": f"turn {turn}: {body}"}]}


def sizes(url: str) -> dict[str, int]:
    """Bytes per table (with its indexes) and the database's bytes in use."""
    engine = sa.create_engine(normalise_url(url))
    tables = [t.name for t in all_metadata().sorted_tables]
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                indexes = dict(connection.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master").all())
                found: dict[str, int] = {}
                for name, size in connection.exec_driver_sql(
                    "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"
                ):
                    owner = indexes.get(name, name)
                    found[owner] = found.get(owner, 0) + int(size)
                pages = connection.exec_driver_sql("PRAGMA page_count").scalar() or 0
                free = connection.exec_driver_sql("PRAGMA freelist_count").scalar() or 0
                page = connection.exec_driver_sql("PRAGMA page_size").scalar() or 0
                found["$in_use"] = (pages - free) * page
                found["$file"] = pages * page
                return found
            found = {
                t: int(connection.exec_driver_sql(f"SELECT pg_total_relation_size('{t}')").scalar() or 0)
                for t in tables
            }
            found["$in_use"] = found["$file"] = int(
                connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar() or 0
            )
            return found
    finally:
        engine.dispose()


def vacuum(url: str) -> None:
    """PostgreSQL: what autovacuum does on its own, now, so the bytes retention freed are reusable
    (plain VACUUM: the files keep their size, later rows fill the space). SQLite reuses freed pages."""
    engine = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                connection.exec_driver_sql("VACUUM")
    finally:
        engine.dispose()


def summary(found: dict[str, int], events: int) -> list[object]:
    log = sum(found.get(t, 0) for t in LOG_TABLES)
    snaps = sum(found.get(t, 0) for t in SNAPSHOT_TABLES)
    models = sum(
        v for t, v in found.items() if not t.startswith("$") and t not in LOG_TABLES + SNAPSHOT_TABLES
    )
    per_event = f"{log / events:,.0f}" if events else "-"
    return [
        events,
        f"{log / 1e6:.2f}",
        per_event,
        f"{models / 1e6:.2f}",
        f"{snaps / 1e6:.2f}",
        f"{found['$in_use'] / 1e6:.2f}",
    ]


async def conversation(
    url: str, turns: int, keep_last: int | None, every: int
) -> tuple[list[list[object]], list[float]]:
    rows: list[list[object]] = []
    runs: list[float] = []
    policy = None if keep_last is None else RetentionPolicy(NS, keep_last=keep_last)
    async with Engine.open(url, durability="normal") as engine:
        await engine.objects.upload(NS, S, "messages", {"type": "messages", "messages": [text("system", 0)]})
        for turn in range(1, turns + 1):
            await engine.objects.append_messages(
                NS, S, "messages", [text("user", turn), text("assistant", turn)]
            )
            await engine.values.set(
                NS, S, f"state{turn % 4}", {"turn": turn, "tokens": 120 * turn, "plan": "next"}
            )
            if turn % every == 0:
                if policy is not None:
                    started = time.perf_counter()
                    await engine.retain([policy])
                    runs.append((time.perf_counter() - started) * 1000)
                    await anyio.to_thread.run_sync(vacuum, url)
                kept = len(await engine.read_stream(NS, S))
                label = f"{turn:,}"
                rows.append([label, *summary(await anyio.to_thread.run_sync(sizes, url), kept)])
    return rows, runs


COLUMNS = [
    "turns",
    "events kept",
    "log MB",
    "log bytes/event",
    "read models MB",
    "snapshots MB",
    "db in use MB",
]


async def main(turns: int, keep_last: int, every: int, backends: list[str]) -> None:
    for backend in backends:
        for keep in (None, keep_last):
            with database(backend) as url:
                rows, runs = await conversation(url, turns, keep, every)
            label = "no retention" if keep is None else f"keep_last={keep:,} every {every:,} turns"
            show(f"{backend}: {turns:,} turns, {label}", COLUMNS, rows)
            if runs:
                print(f"  retention run: median {statistics.median(runs):.0f} ms, max {max(runs):.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--keep-last", type=int, default=1_000)
    parser.add_argument("--every", type=int, default=1_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    anyio.run(main, args.turns, args.keep_last, args.every, args.backends.split(","))
