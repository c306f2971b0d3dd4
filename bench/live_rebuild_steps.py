"""Where writes wait during a live rebuild: `bench.live_rebuild`'s `live` cell (one in-process writer
setting values back to back on `bench.replay_rate`'s mixed log), with every writer job of the
rebuild timed by step, COMMIT included (count, longest wall clock, longest and total CPU of the
writer thread), and the worst writes placed on the rebuild's timeline (which steps ran while each
waited). Wall clock under load says little; the CPU columns and the placement are what compare
across runs (docs/benchmarks.md, session 11).

`--from` starts from a copy of a database whose projections are caught up (an SQLite file, or a
PostgreSQL database used as a template), so that runs of two trees compare on the same log
without filling and catching up 1,000,000 events each time; without it the log is filled fresh.

    python -m bench.live_rebuild_steps [--events 1000000] [--backends sqlite,postgres]
        [--from FILE_OR_DATABASE]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio

from bench.common import database, percentile, postgres_database, show
from bench.replay_rate import fill
from session_engine.engine import Engine
from session_engine.engine.backends import sqlite_shadows
from session_engine.engine.batches import Batches
from session_engine.engine.projections import live

Span = tuple[float, float, str]


class Steps:
    """Times what the rebuild runs on the writer, by step, while patched in (`patched`)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0])
        self.spans: list[Span] = []
        self.current = "other job"

    def note(self, label: str, started: float, cpu: float) -> None:
        ended = time.perf_counter()
        stat = self.stats[label]
        stat[0] += 1
        stat[1] = max(stat[1], ended - started)
        stat[2] = max(stat[2], cpu)
        stat[3] += cpu
        self.spans.append((started, ended, label))

    @contextlib.contextmanager
    def patched(self) -> Iterator[None]:
        saved: list[tuple[Any, str, Any]] = []

        def wrap(owner: Any, name: str, label: str) -> None:
            inner = getattr(owner, name)
            saved.append((owner, name, inner))

            @functools.wraps(inner)
            def labelled(*args: Any, **kwargs: Any) -> Any:
                if self.current == "other job":  # the job's outermost step names it
                    self.current = label
                return inner(*args, **kwargs)

            setattr(owner, name, labelled)

        for name in ("prepare", "copy", "apply", "discard"):
            wrap(sqlite_shadows.SqliteShadows, name, name)
        wrap(live.Copy, "rename", "swap (tail, changes, swap, checkpoints)")
        wrap(live.Copy, "swap", "swap (tail, changes, swap, checkpoints)")
        inner_job = Batches.exclusive
        saved.append((Batches, "exclusive", inner_job))

        def job(batches: Batches, work: Callable[..., Any], transaction: bool = True) -> Any:
            self.current = "other job"
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return inner_job(batches, work, transaction)
            finally:
                self.note(self.current, started, time.thread_time() - cpu)

        Batches.exclusive = job  # type: ignore[method-assign]
        try:
            yield
        finally:
            for owner, name, inner in saved:
                setattr(owner, name, inner)


async def measure(url: str) -> tuple[list[list[object]], list[list[object]]]:
    steps = Steps()
    async with Engine.open(url, migrate=False) as engine:
        writes: list[tuple[float, float]] = []
        done = anyio.Event()

        async def write() -> None:
            n = 0
            while not done.is_set():
                started = time.perf_counter()
                await engine.values.set("bench", f"writer-{n % 16}", f"k{n % 64}", n)
                writes.append((started, time.perf_counter() - started))
                n += 1

        with steps.patched():
            async with anyio.create_task_group() as group:
                group.start_soon(write)
                await anyio.sleep(0.2)
                began, before = time.perf_counter(), len(writes)
                result = await engine.rebuild_live()
                seconds = time.perf_counter() - began
                done.set()
    during = writes[before:]
    latencies = [latency for _, latency in during]
    rows: list[list[object]] = [
        ["rebuild", f"{seconds:.1f} s"],
        ["writes during it", f"{len(during):,}"],
        ["worst write", f"{max(latencies) * 1000:,.0f} ms"],
        ["p99 write", f"{percentile(latencies, 99) * 1000:.1f} ms"],
        ["events replayed under the lock", f"{result.locked:,}"],
    ]
    for label, (count, longest, cpu, total) in steps.stats.items():
        rows.append(
            [
                f"{label}: jobs, longest, longest CPU, total CPU",
                f"{count:,.0f}, {longest * 1000:,.1f} ms, {cpu * 1000:.1f} ms, {total:.2f} s",
            ]
        )
    worst = []
    for started, latency in sorted(during, key=lambda write: -write[1])[:5]:
        ran = collections.Counter(
            label for a, b, label in steps.spans if a < started + latency and b > started
        )
        worst.append([f"{started - began:.1f} s", f"{latency * 1000:,.0f} ms", dict(ran) or "none"])
    return rows, worst


@contextlib.contextmanager
def copied(backend: str, source: str) -> Iterator[str]:
    """A database copied from `source`: an SQLite file, or a PostgreSQL database as template."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="session-engine-bench-") as directory:
            target = Path(directory) / "bench.db"
            for suffix in ("", "-wal", "-shm"):
                if Path(source + suffix).exists():
                    shutil.copy(source + suffix, str(target) + suffix)
            yield f"sqlite:///{target}"
        return
    with postgres_database(migrated=False, template=source) as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--from", dest="source", help="a caught-up SQLite file or PostgreSQL database")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        if args.source:
            with copied(backend, args.source) as url:
                rows, worst = anyio.run(measure, url)
        else:
            with database(backend) as url:
                fill(url, args.events, mix=True)
                anyio.run(_caught_up, url)
                rows, worst = anyio.run(measure, url)
        show(f"Writes during a live rebuild ({backend})", ["measure", "result"], rows)
        show("The worst writes", ["into the rebuild", "latency", "jobs on the writer meanwhile"], worst)


async def _caught_up(url: str) -> None:
    async with Engine.open(url, migrate=False):
        pass


if __name__ == "__main__":
    main()
