"""What the hash chain costs an append: the engine as built against the same engine with the
chain's work skipped, side by side (issue 18: "under 3% of appends/s").

The switch is this benchmark's alone, never an engine option: for the "skipped" cells it replaces
the writer's `event_hash` (engine/unit_of_work.py) by a function answering a constant 32 bytes,
so the canonical bytes are not built and nothing is digested; the rows still store a 32-byte hash,
so what remains between the two cells is exactly the chain's computation.

Wall clock and CPU (the default): `--writers` writers (1: a lone writer's path; 64: the group
commit's) append one ~200-byte event per call for `--seconds`, each cell on a new database, the
two cells taking turns within every round (the VM's speed drifts within minutes: alternating
puts both cells in the same stretches of time). Per cell: appends/s (wall clock) and CPU per
append (`time.process_time`: every thread of this process, the writer's and the loop's; on
PostgreSQL the server's own CPU is another process and is not in it). Medians of `--rounds`;
the chain's columns are the median of each round's own difference (chain minus skipped), which
drifts less than either cell does across rounds.

    python -m bench.chain_cost [--seconds 3] [--rounds 5] [--writers 1,64] [--backends sqlite,postgres]
        [--durability full|off]

Instructions (`--callgrind`): runs itself under valgrind's callgrind, with and without the chain,
at two sizes each (start-up cancels out in the difference), SQLite, `durability="off"`, and
splits the chain's instructions into SHA-256 (libcrypto: callgrind hides the CPU's SHA
extensions, so the digest is overstated) and the rest (building the canonical bytes in Python).

    python -m bench.chain_cost --callgrind [--appends 6400] [--small 640] [--writers 64]

(From the checkout's root: each counted run is `python -m bench.chain_cost` started there.)

Per event on the real CPU (`--micro`): `event_hash` on a ~200-byte event, its parts one by one
(CPU time, best of 9 repeats: the least disturbed by the other processes), so the digest on this
CPU (with its SHA extensions, which callgrind hides) is set beside the canonical bytes.

    python -m bench.chain_cost --micro
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson

from bench.common import database, median, payload, show
from session_engine.engine import Engine, NewEvent, unit_of_work
from session_engine.engine.log import chain

VARIANTS = ("chain", "skipped")
_CONSTANT = bytes(32)


def _no_chain(*_fields: Any) -> bytes:
    """The skipped cell's `event_hash`: no canonical bytes, no digest."""
    return _CONSTANT


@contextlib.contextmanager
def variant(name: str) -> Iterator[None]:
    """Run the writer with the chain as built ("chain") or with its work skipped ("skipped")."""
    if name == "chain":
        yield
        return
    writer = vars(unit_of_work)  # the module's names, as the writer looks `event_hash` up per event
    built = writer["event_hash"]
    writer["event_hash"] = _no_chain
    try:
        yield
    finally:
        writer["event_hash"] = built


async def appends(url: str, writers: int, seconds: float, durability: str) -> tuple[int, float, float]:
    """Appends acknowledged in `seconds` by `writers` concurrent sessions, the wall seconds, and
    the CPU seconds this process spent meanwhile."""
    data = payload()
    async with Engine.open(url, durability=durability) as engine:  # type: ignore[arg-type]
        counts = [0] * writers
        stop = anyio.Event()

        async def writer(i: int) -> None:
            stream = f"session-{i}"
            event = [NewEvent("noted", data)]
            while not stop.is_set():
                await engine.append("bench", stream, event)
                counts[i] += 1

        cpu, wall = time.process_time(), time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for i in range(writers):
                tasks.start_soon(writer, i)
            await anyio.sleep(seconds)
            stop.set()
        return sum(counts), time.perf_counter() - wall, time.process_time() - cpu


def wall_and_cpu(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    rows = []
    every = []
    for backend in args.backends.split(","):
        with database(backend) as url:  # warm-up, not counted: the first engine of a process pays more
            anyio.run(appends, url, 64, min(args.seconds, 1.0), args.durability)
        for writers in (int(w) for w in args.writers.split(",")):
            rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
            cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
            for round_ in range(args.rounds):
                # Alternate which cell goes first, so neither always follows the other.
                order = VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]
                for name in order:
                    with database(backend) as url, variant(name):
                        count, wall, cpu = anyio.run(appends, url, writers, args.seconds, args.durability)
                    rates[name].append(count / wall)
                    cpus[name].append(cpu / count * 1e6)
            rate = {name: median(values) for name, values in rates.items()}
            cpu_ = {name: median(values) for name, values in cpus.items()}
            # Each round's two cells ran minutes apart at most: their difference drifts less than
            # either cell does across rounds.
            paired = median([c - s for c, s in zip(cpus["chain"], cpus["skipped"], strict=True)])
            paired_rate = median([c / s - 1 for c, s in zip(rates["chain"], rates["skipped"], strict=True)])
            rows.append(
                (
                    backend,
                    str(writers),
                    f"{rate['chain']:,.0f}",
                    f"{rate['skipped']:,.0f}",
                    f"{paired_rate:+.1%}",
                    f"{cpu_['chain']:.1f}",
                    f"{cpu_['skipped']:.1f}",
                    f"{paired:+.2f}",
                    f"{paired / cpu_['chain']:.1%}",
                )
            )
            for name in VARIANTS:
                every.append(
                    (
                        backend,
                        str(writers),
                        name,
                        " ".join(f"{r:,.0f}" for r in rates[name]),
                        " ".join(f"{c:.1f}" for c in cpus[name]),
                    )
                )
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    show(
        f"The chain as built against skipped: durability={args.durability}, {args.seconds:g} s cells,"
        f" medians of {args.rounds} alternating rounds",
        [
            "backend",
            "writers",
            "appends/s, chain",
            "appends/s, skipped",
            "change (paired)",
            "CPU µs/append, chain",
            "CPU µs/append, skipped",
            "the chain's µs (paired)",
            "its share",
        ],
        rows,
    )
    show("Every round", ["backend", "writers", "cell", "appends/s", "CPU µs/append"], every)


# -- callgrind -------------------------------------------------------------------------------

_DIGEST = ("clinic/_hashopenssl.c.h:_hashlib_openssl_sha256 ", "clinic/_hashopenssl.c.h:EVP_digest ")
"""hashlib's SHA-256 entry points as callgrind_annotate names them: the constructor (which
digests the bytes) and `digest()`. Their inclusive instructions are the digest's share, OpenSSL's
context set-up, finalisation and cleansing included."""


def _callgrind(appends_: int, writers: int, name: str, out: Path) -> None:
    subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "bench.chain_cost",
            "--run-once",
            name,
            "--appends",
            str(appends_),
            "--writers",
            str(writers),
        ],
        cwd=Path.cwd(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _total(out: Path) -> int:
    for line in out.read_text().splitlines():
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{out}: no summary line")


def _digest(out: Path) -> int:
    """The inclusive instructions of hashlib's SHA-256 calls in one callgrind output."""
    annotated = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found: dict[str, int] = {}
    for line in annotated.splitlines():
        for entry in _DIGEST:
            if entry in line and entry not in found:
                found[entry] = int(line.split()[0].replace(",", ""))
    return sum(found.values())


def instructions(args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    writers = args.writers_one
    large = args.appends - args.appends % writers
    small = args.small - args.small % writers
    per: dict[str, float] = {}
    digest: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="chain-cost-") as directory:
        for name in VARIANTS:
            outs = {}
            for size in (small, large):
                outs[size] = Path(directory) / f"{name}-{size}"
                _callgrind(size, writers, name, outs[size])
            per[name] = (_total(outs[large]) - _total(outs[small])) / (large - small)
            digest[name] = (_digest(outs[large]) - _digest(outs[small])) / (large - small)
    chain = per["chain"] - per["skipped"]
    show(
        f"Instructions per append (callgrind, SQLite, {writers} writers, durability=off,"
        f" {large:,} - {small:,} appends)",
        ["cell", "per append", "of which SHA-256 (hashlib + OpenSSL)"],
        [
            ("chain", f"{per['chain']:,.0f}", f"{digest['chain']:,.0f}"),
            ("skipped", f"{per['skipped']:,.0f}", f"{digest['skipped']:,.0f}"),
            (
                "the chain",
                f"{chain:,.0f} ({chain / per['chain']:.1%} of an append)",
                f"{digest['chain']:,.0f}; the rest (canonical bytes, the call):"
                f" {chain - digest['chain']:,.0f}",
            ),
        ],
    )


def micro() -> None:
    """Nanoseconds of CPU per call of `event_hash` and of its parts."""
    previous, position, namespace, stream, version, type_, schema = (
        bytes(32),
        123_456,
        b"bench",
        b"session-7",
        42,
        b"noted",
        1,
    )
    data, meta, at = orjson.dumps(payload()), b"{}", 1_764_900_000_000_000
    pack, sha256, event_hash = chain._HEADER.pack, hashlib.sha256, chain.event_hash
    header = pack(previous, position, 5, 9, version, 5, schema, len(data), len(meta), at)
    canonical = b"".join((header, namespace, stream, type_, data, meta))
    names = {
        "event_hash, whole": lambda: event_hash(
            previous, position, namespace, stream, version, type_, schema, data, meta, at
        ),
        "the header's struct.pack": lambda: pack(
            previous, position, 5, 9, version, 5, schema, len(data), len(meta), at
        ),
        "the join": lambda: b"".join((header, namespace, stream, type_, data, meta)),
        "sha256(canonical).digest()": lambda: sha256(canonical).digest(),
        "sha256(b'').digest(): the digest's fixed cost": lambda: sha256(b"").digest(),
        "a call of a function doing nothing (the harness)": lambda: None,
    }
    rows = []
    for name, call in names.items():
        best = min(timeit.repeat(call, number=100_000, repeat=9, timer=time.process_time))
        rows.append((name, f"{best / 100_000 * 1e9:,.0f}"))
    load = os.getloadavg()
    show(
        f"CPU ns per call ({len(canonical)} canonical bytes; load {load[0]:.1f})",
        ["call", "ns"],
        rows,
    )


def run_once(name: str, total: int, writers: int) -> None:
    """One fixed amount of appends (what `--callgrind` counts)."""
    with database("sqlite") as url, variant(name):
        anyio.run(fixed, url, total, writers)


async def fixed(url: str, total: int, writers: int) -> None:
    data = payload()
    async with Engine.open(url, durability="off") as engine:

        async def writer(i: int) -> None:
            stream = f"session-{i}"
            for _ in range(total // writers):
                await engine.append("bench", stream, [NewEvent("noted", data)])

        async with anyio.create_task_group() as tasks:
            for i in range(writers):
                tasks.start_soon(writer, i)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writers", default="1,64", help="comma-separated (with --callgrind: one count)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--durability", choices=("full", "off"), default="full")
    parser.add_argument("--callgrind", action="store_true", help="count instructions instead")
    parser.add_argument("--appends", type=int, default=6400, help="--callgrind's larger run")
    parser.add_argument("--small", type=int, default=640, help="--callgrind's smaller run")
    parser.add_argument("--micro", action="store_true", help="event_hash and its parts, per call")
    parser.add_argument("--run-once", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_once:
        run_once(args.run_once, args.appends, int(args.writers))
    elif args.micro:
        micro()
    elif args.callgrind:
        args.writers_one = int(args.writers.split(",")[-1])
        instructions(args)
    else:
        wall_and_cpu(args)


if __name__ == "__main__":
    main()
