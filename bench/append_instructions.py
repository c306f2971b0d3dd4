"""A fixed amount of append work, for counting instructions per append under callgrind.

64 writers, one event per append, `durability="off"` (no fsync: the count is the CPU's work, not
the disk's), on a fresh SQLite file. Instruction counts do not drift with the VM's speed as times
do, so two versions of the code compare within a percent. Start-up (imports, migration, opening
the engine) is the same whatever the number of appends: run twice and divide the difference.

    valgrind --tool=callgrind --callgrind-out-file=/tmp/small python -m bench.append_instructions \\
        --appends 1280
    valgrind --tool=callgrind --callgrind-out-file=/tmp/large python -m bench.append_instructions \\
        --appends 12800
    # instructions per append = (Ir of large - Ir of small) / (12800 - 1280)
    # (Ir: the "summary:" line of each file, or `callgrind_annotate FILE | head`)

`--writers 1` measures a lone writer's path instead: a batch, a commit and two thread hand-offs
per append.

`--backend postgres` counts the client's side on a fresh PostgreSQL database (the server's work is
another process: callgrind does not see it).

`--encrypted` appends into a namespace that seals its payloads (engine/log/sealing.py): run it
and a plain run of the same size to count what encryption adds per append.

`--keyed` gives every append an idempotency key of its own (each one a first use: the writer looks
the key up among the stream's events, then among the keys of removed events, before appending).

`--values` does the same with value sets (`engine.values.set`, eight keys per session, no TTL):
the write path with a decision that reads the read model.

`--objects` does the same with objects commands, each writer in its own session taking turns: a
thread item post, a graph mutation (a new vertex with an edge to the previous one, then a props
change of it) and an append of two messages to a `messages` object. Each writer uploads its three
objects first (start-up: it cancels out of the difference).

Only the public API is used, so the same file measures older versions of the code.
"""

from __future__ import annotations

import argparse

import anyio

from bench.common import database, payload
from session_engine.engine import Engine, NewEvent

WRITERS = 64


async def appends(
    url: str,
    total: int,
    values: bool = False,
    writers: int = WRITERS,
    encrypted: bool = False,
    size: int = 200,
    keyed: bool = False,
    objects: bool = False,
) -> dict[str, int]:
    data = payload(size)
    sealed = ["bench"] if encrypted else []
    async with Engine.open(url, durability="off", encrypted_namespaces=sealed) as engine:

        async def writer(i: int) -> None:
            stream = f"session-{i}"
            if objects:
                await _objects_setup(engine, stream)
            for n in range(total // writers):
                if objects:
                    await _objects_command(engine, stream, n)
                elif values:
                    await engine.values.set("bench", stream, f"key-{n % 8}", data)
                elif keyed:
                    await engine.append("bench", stream, [NewEvent("noted", data)], idempotency_key=f"k-{n}")
                else:
                    await engine.append("bench", stream, [NewEvent("noted", data)])

        async with anyio.create_task_group() as tasks:
            for i in range(writers):
                tasks.start_soon(writer, i)
        return engine.stats


async def _objects_setup(engine: Engine, stream: str) -> None:
    await engine.objects.upload("bench", stream, "thread", {"type": "thread", "thread": {"attributes": {}}})
    await engine.objects.upload("bench", stream, "graph", {"type": "graph", "graph": {"attributes": {}}})
    await engine.objects.upload("bench", stream, "chat", {"type": "messages", "messages": []})


async def _objects_command(engine: Engine, stream: str, n: int) -> None:
    """The n-th objects command of a writer: a post, a graph mutation or an append, in turn."""
    turn, step = n % 3, n // 3
    text = [{"type": "text", "text": f"message {n}: the quick brown fox jumps over the lazy dog"}]
    if turn == 0:
        await engine.objects.post_thread_item("bench", stream, "thread", text, user_id="u")
    elif turn == 1:
        vertex: dict[str, object] = {"op": "add_vertex", "element_id": f"v{step}", "labels": ["node"]}
        operations = [vertex, {"op": "set_vertex_props", "element_id": f"v{step}", "props": {"n": n}}]
        if step:
            operations.append(
                {"op": "add_edge", "label": "next", "from_id": f"v{step - 1}", "to_id": f"v{step}"}
            )
        await engine.objects.apply_graph_mutations("bench", stream, "graph", operations)
    else:
        messages = [{"role": "user", "content": text}, {"role": "assistant", "content": text}]
        await engine.objects.append_messages("bench", stream, "chat", messages)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--appends", type=int, default=12_800, help=f"a multiple of {WRITERS}")
    parser.add_argument("--values", action="store_true", help="value sets instead of raw appends")
    parser.add_argument("--objects", action="store_true", help="objects commands instead of raw appends")
    parser.add_argument(
        "--writers", type=int, default=WRITERS, help="concurrent writers (1: a lone writer's path)"
    )
    parser.add_argument("--encrypted", action="store_true", help="into a namespace that seals payloads")
    parser.add_argument("--size", type=int, default=200, help="bytes of JSON per event")
    parser.add_argument("--keyed", action="store_true", help="an idempotency key on every append")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    total = args.appends - args.appends % args.writers
    with database(args.backend) as url:
        stats = anyio.run(
            appends,
            url,
            total,
            args.values,
            args.writers,
            args.encrypted,
            args.size,
            args.keyed,
            args.objects,
        )
    print(
        f"{total} appends by {args.writers} writers in {stats['batches']} batches. Instructions per append:"
        f" (Ir of this run - Ir of a run with fewer appends) / ({total} - those appends)"
    )


if __name__ == "__main__":
    main()
