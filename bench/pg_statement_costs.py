"""What each statement of a lone append costs on PostgreSQL, client and server, without the engine.

The write path's statements for one event (BEGIN, the log lock, the head check, the events
INSERT, the checkpoint UPDATE, NOTIFY, COMMIT) sent by raw psycopg at synchronous_commit off, a
part left out per cell, on a fresh migrated database (`notifyif`: the writer's NOTIFY since session
13, sent only where another process's listener is registered, here none; without `begin` the
statements run in the protocol's implicit transaction, committed at the Sync, as a lone append's
do since session 13): each cell reports commits per second, the
client's CPU per commit (this process) and the server's (the CPU its backend process spent, read
from /proc: the server must run on this machine). `--psycopg-pipeline` sends them through
psycopg's own pipeline instead of one libpq write with prepared statements
(engine/backends/postgres_pipeline.py); `--unprepared` sends them in one write, each parsed and
planned by the server every time.

    python -m bench.pg_statement_costs [--commits 3000] [--psycopg-pipeline | --unprepared] [PARTS ...]

PARTS are comma-separated subsets of begin,lock,expect,ckpt,notify,notifyif (default: a ladder of them).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import time
from typing import Any

import orjson
import psycopg
from psycopg import generators, pq
from psycopg._queries import PostgresQuery
from psycopg.adapt import Transformer

from bench.common import database, payload
from session_engine.engine.backends.base import EVENT_COLUMNS, LOG_LOCK_KEY, NOTIFY_CHANNEL
from session_engine.engine.backends.postgres_listener import NOTIFY_OTHERS
from session_engine.engine.backends.postgres_transactions import EXPECT_HEAD

LOCK = f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})"
INSERT = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(['%s'] * len(EVENT_COLUMNS))})"
CHECKPOINT = (
    "UPDATE projection_checkpoints SET position = CASE WHEN name = %s OR name = %s OR name = %s"
    " THEN -1 ELSE %s END WHERE CASE WHEN name = %s OR name = %s OR name = %s"
    " THEN position != -1 ELSE position = -1 END"
)
NOTIFY = f"SELECT pg_notify('{NOTIFY_CHANNEL}', %s)"
LADDER = [
    "",
    "begin",
    "begin,lock",
    "begin,expect",
    "begin,ckpt",
    "begin,notify",
    "begin,lock,expect,ckpt,notify",
    "lock,expect,ckpt,notifyif",
]
TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(connection: psycopg.Connection[Any]) -> float:
    with open(f"/proc/{connection.info.backend_pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def statements(parts: str, head: int, data: str, now: datetime.datetime) -> list[tuple[str, tuple[Any, ...]]]:
    names = ("values", "records", "objects")
    row = (
        head + 1,
        "bench",
        "s1",
        head + 1,
        "noted",
        1,
        data,
        "{}",
        None,
        now,
        hashlib.sha256(b"x").digest(),
        None,
    )
    wanted = [
        ("begin", "BEGIN", ()),
        ("lock", LOCK, ()),
        ("expect", EXPECT_HEAD, (head,)),
        ("", INSERT, row),
        ("ckpt", CHECKPOINT, (*names, head, *names)),
        ("notify", NOTIFY, (str(head + 1),)),
        ("notifyif", NOTIFY_OTHERS, (str(head + 1), "own")),
        ("begin", "COMMIT", ()),
    ]
    return [(sql, params) for part, sql, params in wanted if not part or part in parts.split(",")]


class OneWrite:
    """The statements queued in libpq's buffer, each prepared once, sent with one Sync."""

    def __init__(self, connection: psycopg.Connection[Any], prepared: bool = True) -> None:
        self.connection, self.pgconn, self.prepared = connection, connection.pgconn, prepared
        self.query = PostgresQuery(Transformer(connection))
        self.names: dict[tuple[str, tuple[int, ...]], bytes] = {}

    def run(self, batch: list[tuple[str, tuple[Any, ...]]]) -> None:
        pgconn, query = self.pgconn, self.query
        pgconn.enter_pipeline_mode()
        for sql, params in batch:
            query.convert(sql, params or None)
            if not self.prepared:
                pgconn.send_query_params(
                    query.query, query.params, param_types=query.types, param_formats=query.formats
                )
                continue
            name = self.names.get((sql, query.types))
            if name is None:
                name = self.names[sql, query.types] = f"s{len(self.names)}".encode()
                pgconn.send_prepare(name, query.query, param_types=query.types)
            pgconn.send_query_prepared(name, query.params, param_formats=query.formats)
        pgconn.pipeline_sync()
        self.connection.wait(generators.send(pgconn))
        while True:
            results = self.connection.wait(generators.fetch_many(pgconn))
            if any(r.status == pq.ExecStatus.FATAL_ERROR for r in results):
                raise RuntimeError(results[-1].get_error_field(pq.DiagnosticField.MESSAGE_PRIMARY))
            if results and results[-1].status == pq.ExecStatus.PIPELINE_SYNC:
                break
        pgconn.exit_pipeline_mode()


def cell(
    url: str, parts: str, commits: int, psycopg_pipeline: bool, prepared: bool
) -> tuple[float, float, float]:
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    data = orjson.dumps(payload()).decode()
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET synchronous_commit = off")
        now, head, sender = datetime.datetime.now(datetime.UTC), 0, OneWrite(connection, prepared)

        def one() -> None:
            nonlocal head
            batch = statements(parts, head, data, now)
            if psycopg_pipeline:
                with connection.pipeline():
                    for sql, params in batch:
                        connection.execute(sql, params or None)
            else:
                sender.run(batch)
            head += 1

        for _ in range(100):
            one()
        server, client, start = backend_cpu(connection), time.process_time(), time.perf_counter()
        for _ in range(commits):
            one()
        wall = time.perf_counter() - start
        per = 1e6 / commits
        return commits / wall, (time.process_time() - client) * per, (backend_cpu(connection) - server) * per


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--psycopg-pipeline", action="store_true")
    parser.add_argument("--unprepared", action="store_true")
    parser.add_argument("parts", nargs="*")
    args = parser.parse_args()
    print(f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    for parts in args.parts or LADDER:
        with database("postgres") as url:
            rate, client, server = cell(url, parts, args.commits, args.psycopg_pipeline, not args.unprepared)
        label = "insert" + "".join(f" +{p}" for p in parts.split(",") if p)
        print(f"{label:48} {rate:8.0f}/s  client {client:5.0f} µs  server {server:5.0f} µs per commit")
    print(f"load {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
