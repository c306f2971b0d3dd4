"""Graph reads at size: neighbor pages and two-hop traversals (p50/p99), after loading through the engine.

    python -m bench.objects_graph [--vertices 100000] [--edges 300000] [--samples 300]
                                  [--backends sqlite,postgres]

The graph is built with `apply_graph_mutations` batches of 1,000 operations (the real write path),
then each read is timed on its own: a random vertex's neighbors (both directions, one page of 100),
and a two-hop traversal from a random vertex, counted and as a first page of 100 results.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common import Stopwatch, command_line, latency_rows, run_backends
from session_engine.engine import Engine

NS, S, G = "bench", "graph-session", "g"
VERTEX_LABELS = ["person", "company", "place"]
EDGE_LABELS = ["knows", "likes", "works_at"]
BATCH = 1000


async def load(engine: Engine, vertices: int, edges: int, rng: random.Random) -> float:
    await engine.objects.upload(NS, S, G, {"type": "graph", "graph": {"attributes": {"name": "bench"}}})
    ops: list[dict[str, Any]] = [
        {"op": "add_vertex", "element_id": f"v{i}", "labels": [rng.choice(VERTEX_LABELS)], "props": {"n": i}}
        for i in range(vertices)
    ]
    ops += [
        {
            "op": "add_edge",
            "element_id": f"e{i}",
            "label": rng.choice(EDGE_LABELS),
            "from_id": f"v{rng.randrange(vertices)}",
            "to_id": f"v{rng.randrange(vertices)}",
            "props": {"w": rng.randrange(100)},
        }
        for i in range(edges)
    ]
    with Stopwatch() as watch:
        for number, start in enumerate(range(0, len(ops), BATCH)):
            await engine.objects.apply_graph_mutations(NS, S, G, ops[start : start + BATCH])
            if number % 25 == 0:
                await analyze(engine)
    await analyze(engine)
    return len(ops) / watch.seconds


async def analyze(engine: Engine) -> None:
    """PostgreSQL plans from statistics: refresh them as autovacuum would on a live server."""
    if engine.backend.name == "sqlite":
        return

    def run(connection: Any) -> None:
        connection.exec_driver_sql("ANALYZE graph_elements, graph_vertex_labels")
        connection.commit()

    await engine.read(run)


async def run(url: str, vertices: int, edges: int, samples: int) -> list[tuple[str, str]]:
    rng = random.Random(7)
    results: list[tuple[str, str]] = []
    async with Engine.open(url, migrate=False, durability="normal") as engine:
        rate = await load(engine, vertices, edges, rng)
        results.append(("load (ops/s, batches of 1,000)", f"{rate:,.0f}"))
        objects = engine.objects

        def vertex() -> str:
            return f"v{rng.randrange(vertices)}"

        reads: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            (
                "neighbors both, 1 vertex, page 100",
                lambda: objects.graph_neighbors(NS, S, G, [vertex()], limit=100),
            ),
            (
                "neighbors out, 10 vertices, label",
                lambda: objects.graph_neighbors(
                    NS, S, G, [vertex() for _ in range(10)], direction="out", label="knows", limit=100
                ),
            ),
            (
                "two-hop out.out, count",
                lambda: objects.query_graph(
                    NS, S, G, {"start": ["V", vertex()], "steps": [["out"], ["out"], ["count"]]}
                ),
            ),
            (
                "two-hop both.both, first 100 elements",
                lambda: objects.query_graph(
                    NS, S, G, {"start": ["V", vertex()], "steps": [["both"], ["both"], ["limit", 100]]}
                ),
            ),
            (
                "two-hop out(knows).hasLabel.has, values",
                lambda: objects.query_graph(
                    NS,
                    S,
                    G,
                    {
                        "start": ["V", vertex()],
                        "steps": [
                            ["out", "knows"],
                            ["out"],
                            ["hasLabel", "person"],
                            ["has", "n", "lt", vertices // 2],
                            ["values", "n"],
                        ],
                    },
                ),
            ),
        ]
        results.extend(await latency_rows(samples, reads))
    return results


def main() -> None:
    parser = command_line(__doc__)
    parser.add_argument("--vertices", type=int, default=100_000)
    parser.add_argument("--edges", type=int, default=300_000)
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    run_backends(
        args.backends,
        run,
        args.vertices,
        args.edges,
        args.samples,
        title=lambda backend: f"graph {args.vertices:,} vertices / {args.edges:,} edges on {backend}",
    )


if __name__ == "__main__":
    main()
