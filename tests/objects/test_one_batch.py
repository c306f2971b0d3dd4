"""Objects commands of one session in one batch: the objects read model is applied once per batch
(stream-local), so every decision that reads must still see the writes decided before it."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.engine import Engine
from session_engine.engine.objects.graphs.errors import RevMismatch
from session_engine.engine.objects.threads.errors import InvalidThreadEnvelope
from tests.harness import in_one_batch

pytestmark = pytest.mark.anyio
NS, S = "rev", "sess"
THREAD = {"type": "thread", "thread": {"attributes": {"name": "t"}, "metadata": {}}}
GRAPH = {"type": "graph", "graph": {"attributes": {"name": "g"}}}


def text(value: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": value}]


async def test_reads_see_the_writes_decided_before_them(engine: Engine) -> None:
    objects = engine.objects
    await objects.upload(NS, S, "old", THREAD)
    await objects.upload(NS, S, "g", GRAPH)
    vertex = {"op": "add_vertex", "element_id": "v", "labels": ["x"], "props": {"n": 0}}
    outcomes = await in_one_batch(
        engine,
        [
            lambda: objects.upload(NS, S, "t", THREAD),  # new in this batch
            lambda: objects.post_thread_item(NS, S, "t", text("one")),
            lambda: objects.post_thread_item(NS, S, "t", text("two")),
            lambda: objects.delete(NS, S, "old"),
            lambda: objects.post_thread_item(NS, S, "old", text("gone")),  # deleted just before
            lambda: objects.apply_graph_mutations(NS, S, "g", [vertex]),
            lambda: objects.apply_graph_mutations(
                NS, S, "g", [{"op": "set_vertex_props", "element_id": "v", "props": {"n": 1}, "if_rev": 1}]
            ),
            lambda: objects.apply_graph_mutations(  # the rev is 2 now
                NS, S, "g", [{"op": "set_vertex_props", "element_id": "v", "props": {"n": 9}, "if_rev": 1}]
            ),
            lambda: objects.post_thread_item(NS, S, "t", text("three")),
        ],
    )
    assert isinstance(outcomes[4], InvalidThreadEnvelope)
    assert isinstance(outcomes[7], RevMismatch)
    assert not any(isinstance(o, Exception) for i, o in enumerate(outcomes) if i not in (4, 7)), outcomes
    items = await objects.list_thread_items(NS, S, "t", ascending=True)
    assert [item.content[0]["text"] for item in items.items] == ["one", "two", "three"]
    element = await objects.get_graph_element(NS, S, "g", "v")
    assert element.props == {"n": 1} and element.rev == 2
    assert [o.alias for o in (await objects.list_objects(NS, S)).objects] == ["g", "t"]
    assert await engine.verify() == []
