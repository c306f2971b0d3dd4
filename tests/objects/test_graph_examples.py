"""Graph examples: atomic batches, named errors, result shapes of neighbors and traversals (the
engine's answers as BlobHub documents them, `adapters/blobhub/documents.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from session_engine.adapters.blobhub.documents import (
    element_document,
    element_page_document,
    elements_document,
    mutation_document,
    neighborhood_document,
    query_document,
)
from session_engine.engine import Engine
from session_engine.engine.objects.errors import InvalidCursor
from session_engine.engine.objects.graphs.errors import (
    ElementExists,
    ElementNotFound,
    InvalidGraphEnvelope,
    InvalidGraphOperation,
    InvalidGraphQuery,
    RevMismatch,
    TooManyOperations,
)
from session_engine.engine.objects.limits import MAX_OPERATIONS

pytestmark = pytest.mark.anyio
NS, S, G = "rev", "sess", "g"


async def social(engine: Engine) -> None:
    await engine.objects.upload(NS, S, G, {"type": "graph", "graph": {"attributes": {"name": "social"}}})
    await engine.objects.apply_graph_mutations(
        NS,
        S,
        G,
        [
            {
                "op": "add_vertex",
                "element_id": "ann",
                "labels": ["person"],
                "props": {"age": 31, "name": "Ann"},
            },
            {
                "op": "add_vertex",
                "element_id": "bob",
                "labels": ["person"],
                "props": {"age": 25, "name": "Bob"},
            },
            {"op": "add_vertex", "element_id": "acme", "labels": ["company"], "props": {"name": "Acme"}},
            {"op": "add_edge", "element_id": "e1", "label": "knows", "from_id": "ann", "to_id": "bob"},
            {
                "op": "add_edge",
                "element_id": "e2",
                "label": "works_at",
                "from_id": "bob",
                "to_id": "acme",
                "props": {"since": 2020},
            },
            {
                "op": "add_edge",
                "element_id": "e3",
                "label": "works_at",
                "from_id": "ann",
                "to_id": "acme",
                "props": {"since": 2018},
            },
        ],
        user_id="u1",
    )


async def test_batches_are_atomic_and_errors_are_named(engine: Engine) -> None:
    await social(engine)
    head = await engine.head()
    objects = engine.objects
    refusals = [
        (
            [
                {"op": "set_vertex_props", "element_id": "ann", "props": {"x": 1}},
                {"op": "delete_vertex", "element_id": "zed"},
            ],
            ElementNotFound,
        ),
        ([{"op": "add_vertex", "element_id": "bob", "labels": ["p"]}], ElementExists),
        ([{"op": "set_vertex_props", "element_id": "ann", "props": {}, "if_rev": 7}], RevMismatch),
        ([{"op": "set_edge_props", "element_id": "ann", "props": {}}], InvalidGraphOperation),
        ([{"op": "add_edge", "label": "x", "from_id": "ann", "to_id": "e1"}], InvalidGraphOperation),
        ([{"op": "add_vertex", "labels": []}], InvalidGraphOperation),
        ([{"op": "relabel", "element_id": "ann"}], InvalidGraphOperation),
        ([{"op": "add_vertex", "labels": ["p"]}] * (MAX_OPERATIONS + 1), TooManyOperations),
    ]
    for ops, error in refusals:
        with pytest.raises(error) as raised:
            await objects.apply_graph_mutations(NS, S, G, ops)
        assert raised.value.code in (
            "not_found",
            "element_exists",
            "rev_mismatch",
            "invalid_graph_operation",
            "too_many_operations",
        )
    with pytest.raises(RevMismatch) as mismatch:
        await objects.apply_graph_mutations(
            NS, S, G, [{"op": "delete_edge", "element_id": "e1", "if_rev": 2}]
        )
    assert (mismatch.value.element_id, mismatch.value.code) == ("e1", "rev_mismatch")
    with pytest.raises(InvalidGraphEnvelope):
        await objects.apply_graph_mutations(NS, S, "nope", [{"op": "add_vertex", "labels": ["p"]}])
    assert await engine.head() == head
    assert (await objects.get_graph_element(NS, S, G, "ann")).rev == 1


async def test_delete_vertex_removes_its_edges(engine: Engine) -> None:
    await social(engine)
    result = await engine.objects.apply_graph_mutations(
        NS,
        S,
        G,
        [
            {"op": "set_vertex_props", "element_id": "acme", "props": {"size": 3}, "if_rev": 1},
            {"op": "delete_vertex", "element_id": "acme", "if_rev": 2},
        ],
    )
    assert mutation_document(result) == {
        "elements": [
            {"element_id": "acme", "type": "vertex", "change": "deleted", "rev": None},
            {"element_id": "e2", "type": "edge", "change": "deleted", "rev": None},
            {"element_id": "e3", "type": "edge", "change": "deleted", "rev": None},
        ]
    }
    page = await engine.objects.list_graph_elements(NS, S, G, ascending=True)
    listing = element_page_document(page, ids_only=True)
    assert listing == {
        "cursor": None,
        "element_ids": [
            {"element_id": "ann", "type": "vertex", "rev": 1},
            {"element_id": "bob", "type": "vertex", "rev": 1},
            {"element_id": "e1", "type": "edge", "rev": 1},
        ],
    }
    assert await engine.verify() == []


async def test_reads_and_traversals(engine: Engine) -> None:
    await social(engine)
    objects = engine.objects
    ann = element_document(await objects.get_graph_element(NS, S, G, "ann"))
    assert (
        ann["labels"] == ["person"] and ann["props"] == {"age": 31, "name": "Ann"} and ann["user_id"] == "u1"
    )
    many = elements_document(await objects.get_graph_elements(NS, S, G, ["e1", "missing", "ann"]))
    assert [e["element_id"] for e in many["elements"]] == ["e1", "ann"]
    near = neighborhood_document(await objects.graph_neighbors(NS, S, G, ["bob"], direction="both"))
    assert [e["element_id"] for e in near["edges"]] == ["e1", "e2"]
    assert [v["element_id"] for v in near["vertices"]] == ["ann", "acme"]
    near = neighborhood_document(
        await objects.graph_neighbors(NS, S, G, ["ann", "bob"], direction="out", label="works_at", limit=1)
    )
    assert [e["element_id"] for e in near["edges"]] == ["e2"] and near["cursor"] is not None
    rest = neighborhood_document(
        await objects.graph_neighbors(
            NS, S, G, ["ann", "bob"], direction="out", label="works_at", cursor=near["cursor"]
        )
    )
    assert [e["element_id"] for e in rest["edges"]] == ["e3"] and rest["cursor"] is None
    with pytest.raises(InvalidCursor):
        await objects.graph_neighbors(NS, S, G, ["ann"], cursor="garbage!")

    async def query(*arguments: Any) -> dict[str, Any]:
        return query_document(await objects.query_graph(*arguments))

    coworkers = {
        "start": ["V", "ann"],
        "steps": [["out", "works_at"], ["in", "works_at"], ["values", "name"]],
    }
    assert await query(NS, S, G, coworkers) == {"results": ["Ann", "Bob"], "truncated": False}
    older = {
        "start": ["V"],
        "steps": [["hasLabel", "person"], ["has", "age", "gt", 30], ["project", ["name", "age"]]],
    }
    assert await query(NS, S, G, older) == {"results": [{"name": "Ann", "age": 31}], "truncated": False}
    assert await query(
        NS, S, G, {"start": ["E"], "steps": [["has", "since", "gte", 2019], ["outV"], ["count"]]}
    ) == {"count": 1}
    props = await query(NS, S, G, {"start": ["V", "acme"], "steps": [["inE"], ["limit", 1], ["properties"]]})
    assert props == {"results": [{"element_id": "e2", "props": {"since": 2020}}], "truncated": False}
    for bad in (
        {"start": ["X"]},
        {"start": ["E"], "steps": [["out"]]},
        {"start": ["V"], "steps": [["count"], ["out"]]},
    ):
        with pytest.raises(InvalidGraphQuery):
            await query(NS, S, G, bad)
