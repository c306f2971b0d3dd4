"""CPU time of the objects projection's folded writes, through the real engine.

On a fresh SQLite file (durability off): 20 appends of 1,000 thread items (`ThreadItemPosted`, one
append each: the projection folds 1,000 events at once), 30 graph mutations of 119 operations
(`apply_graph_mutations`), then `Engine.rebuild()` of it all. Prints the CPU seconds of each part
(`time.process_time`: on a loaded machine the wall clock counts other processes' turns too).

    python -m bench.objects_fold [LABEL]

Only the public API is used, so `PYTHONPATH=<another checkout>` measures that checkout's code.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid

import anyio

from session_engine.engine import Engine
from session_engine.engine.objects.state import find_object
from session_engine.engine.objects.threads.events import ThreadItemPosted

NS, S = "bench", "fold"


async def measure(url: str) -> tuple[float, float, float]:
    async with Engine.open(url, durability="off") as engine:
        await engine.objects.upload(NS, S, "t", {"type": "thread", "thread": {"attributes": {}}})
        await engine.objects.upload(NS, S, "g", {"type": "graph", "graph": {"attributes": {}}})
        thread = await engine.read(lambda c: find_object(c.execute, NS, S, "t"))
        assert thread is not None
        cpu = time.process_time()
        for _ in range(20):
            content = [{"type": "text", "text": "the quick brown fox"}]
            events = [
                ThreadItemPosted(
                    alias="t",
                    object_id=thread.object_id,
                    item_id=uuid.uuid4().hex,
                    user_id="u",
                    content=content,
                )
                for _ in range(1000)
            ]
            await engine.append(NS, S, events)
        items = time.process_time() - cpu
        cpu = time.process_time()
        for r in range(30):
            ops: list[dict[str, object]] = [
                {"op": "add_vertex", "element_id": f"v{r}-{i}", "labels": ["x"], "props": {"i": i}}
                for i in range(40)
            ]
            ops += [
                {"op": "add_edge", "label": "e", "from_id": f"v{r}-{i}", "to_id": f"v{r}-{i + 1}"}
                for i in range(39)
            ]
            ops += [
                {"op": "set_vertex_props", "element_id": f"v{r}-{i}", "props": {"j": 1}} for i in range(40)
            ]
            await engine.objects.apply_graph_mutations(NS, S, "g", ops)
        graphs = time.process_time() - cpu
        cpu = time.process_time()
        await engine.rebuild()
        return items, graphs, time.process_time() - cpu


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        items, graphs, rebuild = anyio.run(measure, f"sqlite:///{folder}/fold.db")
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    print(f"{label} CPU s: thread items {items:.3f}, graph mutations {graphs:.3f}, rebuild {rebuild:.3f}")


if __name__ == "__main__":
    main()
