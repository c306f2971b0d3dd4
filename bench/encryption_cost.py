"""What sealing payloads costs an append, on the real write path (`specs/lifecycle.md`, erasure).

The same appends into a namespace that seals its payloads (`Engine.open(encrypted_namespaces=...)`:
AES-GCM per event, a key per session read or made once) and into a plain one, rounds alternating,
each on a fresh SQLite file: 64 writers, one event per append, `durability="off"` (as
`bench/append_instructions.py`; no fsync, so the CPU's work is what differs). Each round gives the
process's CPU time per append (every thread's: the writer's included) and the wall time; best and
median of `--rounds` for each (the machine is shared: CPU time moves far less with load than wall
time, and the best is the least disturbed). For a figure load does not move at all, count
instructions: `bench/append_instructions.py --encrypted` under callgrind.

Then what sealing adds to the writer's work per event, alone in a loop (steady under load): the
sealing and the chain hash over what is stored, less the hash and text of the plain event; for the
stored form since 0015 (bytes) and, as the baseline in the same run, the form before it (base64 JSON
text in `data`).

    python -m bench.encryption_cost --appends 6400 --size 200
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import time
from collections.abc import Callable

import anyio
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.common import payload, sqlite_database
from session_engine.engine import Engine, NewEvent
from session_engine.engine.log.chain import event_hash
from session_engine.engine.log.sealing import associated, new_key, seal

WRITERS = 64


async def append_seconds(url: str, total: int, data: dict[str, str], encrypted: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per append."""
    async with Engine.open(
        url, durability="off", encrypted_namespaces=["bench"] if encrypted else []
    ) as engine:

        async def writer(i: int) -> None:
            for _ in range(total // WRITERS):
                await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])

        started, cpu = time.perf_counter(), time.process_time()
        async with anyio.create_task_group() as tasks:
            for i in range(WRITERS):
                tasks.start_soon(writer, i)
        return (time.process_time() - cpu) / total, (time.perf_counter() - started) / total


def _hashed(data: bytes) -> bytes:
    """The chain hash of an event whose data the chain covers as `data` (the rest as a bench event)."""
    return event_hash(bytes(32), 1, b"bench", b"session-1", 1, b"noted", 1, data, b"{}", 0)


def _as_base64_text(cipher: AESGCM, text: bytes, bound_to: bytes) -> bytes:
    """A payload sealed as the writer stored it before 0015: `{"$enc": "<base64>"}` in `data`."""
    nonce = os.urandom(12)
    return b'{"$enc":"' + base64.b64encode(nonce + cipher.encrypt(nonce, text, bound_to)) + b'"}'


def writer_seconds(total: int, data: dict[str, str]) -> dict[str, float]:
    """CPU seconds per event of the writer's work on one event's data, by stored form: `plain`
    (its text, hashed), `bytes` (sealed, as stored since 0015) and `base64` (before it). The key is
    cached per stream, so it is not in it."""
    cipher = AESGCM(new_key())
    text = orjson.dumps(data)  # the append encodes it already

    def plain(n: int) -> None:
        _hashed(text)
        text.decode()

    def as_bytes(n: int) -> None:
        _hashed(bytes(seal(cipher, text, associated("bench", "session-1", n, "noted"))))

    def as_base64(n: int) -> None:
        stored = _as_base64_text(cipher, text, associated("bench", "session-1", n, "noted"))
        _hashed(stored)
        stored.decode()

    found: dict[str, float] = {}
    forms: dict[str, Callable[[int], None]] = {"plain": plain, "bytes": as_bytes, "base64": as_base64}
    for name, work in forms.items():
        cpu = time.process_time()
        for n in range(total):
            work(n)
        found[name] = (time.process_time() - cpu) / total
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=6400)
    parser.add_argument("--size", type=int, default=200, help="bytes of JSON per event")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = payload(args.size)
    found: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    writer: list[dict[str, float]] = []
    for _ in range(args.rounds):
        for encrypted in (False, True):
            with sqlite_database() as url:
                found[encrypted].append(anyio.run(append_seconds, url, args.appends, data, encrypted))
        writer.append(writer_seconds(args.appends, data))
    for what, index in (("CPU", 0), ("wall", 1)):
        for summary, pick in (("best", min), ("median", statistics.median)):
            plain = pick([run[index] for run in found[False]])
            sealed = pick([run[index] for run in found[True]])
            print(
                f"{what} ({summary} of {args.rounds}): plain append {plain * 1e6:.1f} us/event, sealed"
                f" {sealed * 1e6:.1f} us/event; sealing adds {sealed / plain - 1:.1%}"
                f" ({args.size}-byte events)"
            )
    plain_cpu = min(run[0] for run in found[False])
    for form, label in (("bytes", "as bytes (since 0015)"), ("base64", "as base64 text (before 0015)")):
        added = min(run[form] - run["plain"] for run in writer)
        print(
            f"sealing's work in the writer, {label}: {added * 1e6:.2f} us/event,"
            f" {added / plain_cpu:.1%} of a plain append's CPU"
        )


if __name__ == "__main__":
    main()
