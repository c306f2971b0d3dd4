"""Instructions per event of a live rebuild of the mixed log, counted by callgrind.

For each size: a fresh database holds `bench.replay_rate`'s `--mix` log of that many events and
an engine has opened it once (its projections caught up), outside callgrind; then a child process
under `valgrind --tool=callgrind` opens the engine and runs one `Engine.rebuild()` (live), and
prints its process CPU. Start-up (imports, opening the engine) is the same at every size: the
difference of two sizes' counts divided by the difference of their events is the rebuild's count
per event. PostgreSQL: the client's side only (the server's work is other processes).

    python -m bench.rebuild_instructions [--events 4000,12000] [--backends sqlite,postgres]
    # with PYTHONPATH=<another tree> the child runs that tree's engine (the public API only)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

import anyio

from bench.common import command_line, database, show
from bench.replay_rate import fill
from session_engine.engine import Engine
from session_engine.engine.catalog import catalog_domain


async def opened(url: str) -> None:
    async with Engine.open(url, extra_domains=[catalog_domain]):
        pass


async def rebuilt(url: str) -> None:
    async with Engine.open(url, extra_domains=[catalog_domain]) as engine:
        cpu = time.process_time()
        applied = await engine.rebuild()
        print(f"applied {applied} cpu {time.process_time() - cpu:.3f}")


def counted(url: str) -> int:
    """Instructions of a child that opens the engine on `url` and rebuilds it once."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        child = [sys.executable, "-m", "bench.rebuild_instructions", "--child", url]
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *child],
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found is not None, done.stderr[-2000:]
    return int(found.group(1))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        anyio.run(rebuilt, sys.argv[2])
        return
    parser = command_line(__doc__)
    parser.add_argument("--events", default="4000,12000", help="two sizes, comma separated")
    args = parser.parse_args()
    small, large = (int(n) for n in args.events.split(","))
    rows = []
    for backend in args.backends.split(","):
        counts = []
        for events in (small, large):
            with database(backend) as url:
                fill(url, events, mix=True)
                anyio.run(opened, url)
                counts.append(counted(url))
        rows.append(
            (backend, f"{counts[0]:,}", f"{counts[1]:,}", f"{(counts[1] - counts[0]) / (large - small):,.0f}")
        )
    show(
        "A live rebuild of the mixed log under callgrind",
        ["backend", f"Ir at {small:,} events", f"Ir at {large:,}", "Ir per event"],
        rows,
    )


if __name__ == "__main__":
    main()
