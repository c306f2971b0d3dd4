"""What the look-up of removed idempotency keys adds to a keyed append, in CPU time.

A keyed append whose key is new (the usual case) looks for the key among the stream's events,
then among the keys of appends retention removed (engine/log/removed_keys.py), before appending.
This runs rounds of 2,560 keyed appends by 64 writers on one SQLite engine (`durability="off"`),
alternating rounds with the look-up and rounds with it replaced by a no-op (the baseline, in the
same process and run), and prints the median CPU seconds (`time.process_time`: the writer thread
included) of each and the difference per append. CPU time, not wall time: the machine is shared.

    python -m bench.removed_keys_cost
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import anyio

from session_engine.engine import Engine, NewEvent
from session_engine.engine.log import removed_keys

WRITERS = 64
APPENDS = 2560
ROUNDS = 6


async def keyed_round(engine: Engine, tag: str) -> float:
    async def writer(i: int) -> None:
        for n in range(APPENDS // WRITERS):
            event = NewEvent("noted", {"text": "x" * 170})
            await engine.append("bench", f"s-{tag}-{i}", [event], idempotency_key=f"k-{n}")

    started = time.process_time()
    async with anyio.create_task_group() as tasks:
        for i in range(WRITERS):
            tasks.start_soon(writer, i)
    return time.process_time() - started


def _no_removed_key(*args: Any) -> None:
    return None


async def measure() -> tuple[float, float]:
    real = removed_keys.find
    with tempfile.TemporaryDirectory() as folder:
        async with Engine.open(f"sqlite:///{folder}/bench.db", durability="off") as engine:
            await keyed_round(engine, "warm-up")
            with_lookup, without = [], []
            try:
                for n in range(ROUNDS):
                    removed_keys.find = real
                    with_lookup.append(await keyed_round(engine, f"with-{n}"))
                    removed_keys.find = _no_removed_key  # type: ignore[assignment]
                    without.append(await keyed_round(engine, f"without-{n}"))
            finally:
                removed_keys.find = real
    return sorted(with_lookup)[ROUNDS // 2], sorted(without)[ROUNDS // 2]


def main() -> None:
    with_lookup, without = anyio.run(measure)
    print(f"CPU s per {APPENDS} keyed appends, median of {ROUNDS}: with the look-up {with_lookup:.3f},")
    print(f"  baseline (look-up replaced by a no-op, same run) {without:.3f}")
    added = (with_lookup - without) / APPENDS * 1e6
    print(f"added per keyed append: {added:.1f} us ({(with_lookup / without - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
