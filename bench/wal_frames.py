"""Which pages a lone writer's commits write to SQLite's WAL, by table or index (issue 21).

One writer appends (or sets a value) `--commits` times on a fresh SQLite file, one command per
commit; then the WAL's frames are read back (each frame header names its page, and a commit's last
frame carries the database size) and every page is named by SQLite's `dbstat` table. Prints the
frames per commit, and per table or index the share of commits that wrote one of its pages. Each
frame is two `pwrite`s and a page's worth of fsync: what a commit costs beyond its statements.

    python -m bench.wal_frames [--commits 300] [--values]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sqlite3
import struct
from pathlib import Path

import anyio

from bench.common import payload, sqlite_database
from session_engine.engine import Engine, NewEvent

WAL_HEADER, FRAME_HEADER = 32, 24


async def commit(url: str, commits: int, values: bool) -> tuple[list[list[int]], dict[int, str]]:
    """Commit, then read the WAL and name its pages while the engine is open (closing, it
    checkpoints the WAL away): each commit's pages, and every page's table or index."""
    data = payload(100)
    path = Path(url.removeprefix("sqlite:///"))
    async with Engine.open(url) as engine:
        for n in range(commits):
            if values:
                await engine.values.set("bench", "session-1", f"key-{n % 8}", data)
            else:
                await engine.append("bench", "session-1", [NewEvent("noted", data)])
        with contextlib.closing(sqlite3.connect(path)) as connection:
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            names = dict(connection.execute("SELECT pageno, name FROM dbstat"))
        return frames_by_commit(path, page_size), names


def frames_by_commit(path: Path, page_size: int) -> list[list[int]]:
    """The page numbers of each commit's frames, in WAL order."""
    raw = (path.parent / (path.name + "-wal")).read_bytes()
    commits: list[list[int]] = []
    pages: list[int] = []
    offset = WAL_HEADER
    while offset + FRAME_HEADER + page_size <= len(raw):
        page, size_after_commit = struct.unpack(">II", raw[offset : offset + 8])
        pages.append(page)
        if size_after_commit:
            commits.append(pages)
            pages = []
        offset += FRAME_HEADER + page_size
    return commits


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=300, help="fewer than fill the WAL to its checkpoint")
    parser.add_argument("--values", action="store_true", help="value sets instead of appends")
    args = parser.parse_args()
    with sqlite_database() as url:
        every, names = anyio.run(commit, url, args.commits, args.values)
    commits = every[-(args.commits * 2) // 3 :]  # the first ones also fill a new database's pages
    counted = collections.Counter(names.get(page, f"page {page}") for pages in commits for page in pages)
    print(f"{sum(map(len, commits)) / len(commits):.2f} frames per commit ({len(commits)} commits)")
    for name, count in counted.most_common():
        print(f"  {count / len(commits):.2f}  {name}")


if __name__ == "__main__":
    main()
