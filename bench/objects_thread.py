"""Thread pages at size: load N items, then time page reads (p50/p99).

    python -m bench.objects_thread [--items 1000000] [--samples 300] [--backends sqlite,postgres]

First the real post path is measured (`post_thread_item` from 64 concurrent writers, group commit
batching them). The bulk of the thread is then loaded through the log as the same domain events
(`ThreadItemPosted`, 1,000 per append) - what an import does; every read model is still a
projection of the log. Reads: the newest page, a page at a random depth (by cursor), an ascending
page after a random instant, one item by id. Many items share a timestamp.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio

from bench.common import Stopwatch, command_line, latency_rows, run_backends
from session_engine.engine import Engine, ManualClock
from session_engine.engine.objects import cursors
from session_engine.engine.objects.state import find_object
from session_engine.engine.objects.threads.events import ThreadItemPosted

NS, S, T = "bench", "thread-session", "t"
WRITERS = 64


async def post_rate(engine: Engine, posts: int) -> float:
    """Items per second through `post_thread_item` (validation, decision, projection, commit)."""

    async def writer(number: int) -> None:
        for i in range(posts // WRITERS):
            content = [{"type": "text", "text": f"post {number}/{i}: the quick brown fox"}]
            await engine.objects.post_thread_item(
                NS, S, T, content, item_metadata={"type": "text"}, user_id="u"
            )

    with Stopwatch() as watch:
        async with anyio.create_task_group() as tasks:
            for number in range(WRITERS):
                tasks.start_soon(writer, number)
    return posts // WRITERS * WRITERS / watch.seconds


async def bulk_load(engine: Engine, clock: ManualClock, items: int) -> tuple[float, list[str]]:
    thread = await engine.read(lambda c: find_object(c.execute, NS, S, T))
    assert thread is not None
    ids: list[str] = []
    with Stopwatch() as watch:
        for start in range(0, items, 1000):
            events = []
            for i in range(start, min(items, start + 1000)):
                item_id = uuid.uuid4().hex
                if i % 97 == 0:
                    ids.append(item_id)
                content = [{"type": "text", "text": f"item {i}: the quick brown fox"}]
                events.append(
                    ThreadItemPosted(
                        alias=T, object_id=thread.object_id, item_id=item_id, user_id="u", content=content
                    )
                )
            await engine.append(NS, S, events)
            clock.advance(1)  # 1,000 items per instant: paging must not depend on timestamps
    return items / watch.seconds, ids


async def run(url: str, items: int, samples: int, posts: int) -> list[tuple[str, str]]:
    rng = random.Random(3)
    clock = ManualClock()
    start = clock.now()
    results: list[tuple[str, str]] = []
    async with Engine.open(url, migrate=False, durability="normal", clock=clock) as engine:
        await engine.objects.upload(NS, S, T, {"type": "thread", "thread": {"attributes": {"name": "bench"}}})
        rate = await post_rate(engine, posts)
        results.append((f"post_thread_item ({posts:,} items, {WRITERS} writers)", f"{rate:,.0f} items/s"))
        rate, ids = await bulk_load(engine, clock, items)
        results.append((f"bulk load through the log ({items:,} items)", f"{rate:,.0f} items/s"))
        if engine.backend.name != "sqlite":
            await engine.read(lambda c: (c.exec_driver_sql("ANALYZE thread_items, messages"), c.commit()))
        head = await engine.head()
        span = (clock.now() - start).total_seconds()
        objects = engine.objects

        def deep_cursor() -> str:
            return cursors.encode("t", False, rng.randrange(1, head))

        def instant() -> Any:
            return start + timedelta(seconds=rng.uniform(0, span))

        reads: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("newest page of 50", lambda: objects.list_thread_items(NS, S, T, limit=50)),
            (
                "page of 50 at a random depth (cursor)",
                lambda: objects.list_thread_items(NS, S, T, limit=50, cursor=deep_cursor()),
            ),
            (
                "ascending page of 50 after a random instant",
                lambda: objects.list_thread_items(
                    NS, S, T, ascending=True, limit=50, created_since=instant()
                ),
            ),
            ("one item by id", lambda: objects.get_thread_item(NS, S, T, rng.choice(ids))),
        ]
        results.extend(await latency_rows(samples, reads))
    return results


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=6_400, help="items posted through the service first")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    run_backends(
        args.backends,
        run,
        args.items,
        args.samples,
        args.posts,
        title=lambda backend: f"thread of {args.items + args.posts:,} items on {backend}",
    )


if __name__ == "__main__":
    main()
