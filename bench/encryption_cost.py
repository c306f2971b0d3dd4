"""What crypto-shredding would add to an append (`specs/lifecycle.md`, erasure): AES-GCM of the
event's data text plus its base64 wrapping, per event, against the wall time of an append.

The append: 64 writers, one event per append, `durability="off"`, a fresh SQLite file (as
`bench/append_instructions.py`). The encryption: `cryptography`'s AESGCM with a 256-bit key, a
fresh 12-byte nonce, the event's identity as associated data - the work the writer would add per
event. Best of `--rounds` for both (the machine is shared: the best is the least disturbed).

    python -m bench.encryption_cost --appends 6400 --size 200
"""

from __future__ import annotations

import argparse
import base64
import os
import time

import anyio
import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bench.common import payload, sqlite_database
from session_engine.engine import Engine, NewEvent

WRITERS = 64


async def append_seconds(url: str, total: int, data: dict[str, str]) -> float:
    async with Engine.open(url, durability="off") as engine:

        async def writer(i: int) -> None:
            for _ in range(total // WRITERS):
                await engine.append("bench", f"session-{i}", [NewEvent("noted", data)])

        started = time.perf_counter()
        async with anyio.create_task_group() as tasks:
            for i in range(WRITERS):
                tasks.start_soon(writer, i)
        return (time.perf_counter() - started) / total


def encrypt_seconds(total: int, data: dict[str, str]) -> float:
    cipher = AESGCM(AESGCM.generate_key(bit_length=256))
    text = orjson.dumps(data)  # the append encodes it already: only what encryption adds is timed
    started = time.perf_counter()
    for n in range(total):
        nonce = os.urandom(12)
        sealed = cipher.encrypt(nonce, text, b"bench\x00session-1\x00%d\x00noted" % n)
        orjson.dumps({"$enc": base64.b64encode(nonce + sealed).decode()})
    return (time.perf_counter() - started) / total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=6400)
    parser.add_argument("--size", type=int, default=200, help="bytes of JSON per event")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = payload(args.size)
    appends, encrypts = [], []
    for _ in range(args.rounds):
        with sqlite_database() as url:
            appends.append(anyio.run(append_seconds, url, args.appends, data))
        encrypts.append(encrypt_seconds(args.appends, data))
    append, encrypt = min(appends), min(encrypts)
    print(f"append {append * 1e6:.1f} us/event, AES-GCM + base64 {encrypt * 1e6:.2f} us/event")
    print(f"encryption adds {encrypt / append:.1%} of an append ({args.size}-byte events)")


if __name__ == "__main__":
    main()
