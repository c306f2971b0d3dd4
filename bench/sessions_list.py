"""The sessions list and its id-prefix search at many sessions (what the console's sessions pane
asks), on SQLite and PostgreSQL.

    python -m bench.sessions_list [--sessions 100000] [--samples 20] [--backends sqlite,postgres]

Sessions are named `team-<t>/chat-<n>` (100 teams) and each gets two value events; then a page of
50 is asked: the newest, one 1,000 pages deep, and the newest matching a prefix that finds one
session, one team (1% of them) and every session. Each figure is the median of `--samples` calls,
in milliseconds; the unsearched first page is the baseline.
"""

from __future__ import annotations

import anyio

from bench.common import command_line, database, rows_of_backends, show
from bench.time_travel import median_ms
from session_engine.engine import Engine

NS, TEAMS, PAGE = "bench", 100, 50


async def fill(engine: Engine, sessions: int) -> None:
    async def writer(start: int) -> None:
        for n in range(start, sessions, 64):
            sid = f"team-{n % TEAMS}/chat-{n}"
            await engine.values.set(NS, sid, "a", n)
            await engine.values.set(NS, sid, "b", n)

    async with anyio.create_task_group() as group:
        for start in range(64):
            group.start_soon(writer, start)


async def measure(backend: str, sessions: int, samples: int) -> list[list[object]]:
    with database(backend) as url:
        async with Engine.open(url) as engine:
            await fill(engine, sessions)
            if backend == "postgres":  # what autovacuum does to a table in use: plans need statistics
                await engine.read(lambda c: c.exec_driver_sql("ANALYZE events"))
            deep = None
            page = await engine.sessions(NS, limit=PAGE)
            for _ in range(min(1000, sessions // PAGE - 1)):
                deep = page.next_after
                page = await engine.sessions(NS, after=deep, limit=PAGE)
            rows: list[list[object]] = []
            for name, call in (
                ("first page (baseline)", lambda: engine.sessions(NS, limit=PAGE)),
                ("a page 1,000 pages deep", lambda: engine.sessions(NS, after=deep, limit=PAGE)),
                ("prefix: one session", lambda: engine.sessions(NS, prefix="team-7/chat-1007", limit=PAGE)),
                ("prefix: one team (1%)", lambda: engine.sessions(NS, prefix="team-7/", limit=PAGE)),
                ("prefix: every session", lambda: engine.sessions(NS, prefix="team-", limit=PAGE)),
            ):
                rows.append([backend, name, f"{await median_ms(samples, call):.1f}"])
            return rows


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    rows = rows_of_backends(args.backends, measure, args.sessions, args.samples)
    show(f"a page of {PAGE} sessions among {args.sessions:,} (ms, median)", ["backend", "call", "ms"], rows)


if __name__ == "__main__":
    main()
