"""Graphs against the in-memory model: atomic batches, reads, neighbors and random traversals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from session_engine.adapters.blobhub.documents import (
    element_page_document,
    mutation_document,
    neighborhood_document,
    query_document,
)
from session_engine.adapters.conformance.models.graph import Model, Refused
from session_engine.adapters.conformance.strategies import (
    EDGE_LABELS,
    IDS,
    PROPS,
    VERTEX_LABELS,
    operation,
    queries,
)
from session_engine.engine import ManualClock
from tests.harness import EngineHarness, EngineMachine

NS, S, G = "rev", "sess", "g"


class GraphMachine(EngineMachine):
    def __init__(self) -> None:
        self.clock = ManualClock()
        super().__init__(clock=self.clock)
        self.model = Model()
        self.fresh = 0

    @initialize()
    def create_graph(self) -> None:
        self.call(
            self.engine.objects.upload, NS, S, G, {"type": "graph", "graph": {"attributes": {"name": "g"}}}
        )

    def mutate(self, ops: list[dict[str, Any]], user: str | None) -> None:
        expected: Refused | None = None
        try:
            changes = self.model.apply(ops, self.clock.now(), user)
        except Refused as refusal:
            expected = refusal
        head = self.call(self.engine.head)
        try:
            result = self.call(self.engine.objects.apply_graph_mutations, NS, S, G, ops, user_id=user)
        except Exception as error:  # noqa: BLE001 - compared below
            assert expected is not None, f"engine refused {error!r}, model accepted"
            assert type(error).__name__ == expected.name and getattr(error, "element_id", None) == (
                expected.element_id
            ), (error, expected)
            assert self.call(self.engine.head) == head
            return
        assert expected is None, f"engine accepted, model raised {expected!r}"
        assert mutation_document(result) == {"elements": changes}

    @rule(data=st.data(), size=st.integers(1, 4), user=st.sampled_from([None, "u1", "u2"]))
    def apply_batch(self, data: st.DataObject, size: int, user: str | None) -> None:
        existing = [e["element_id"] for e in self.model.ordered()]
        vertices = [e["element_id"] for e in self.model.ordered() if e["type"] == "vertex"]
        ids = st.sampled_from(existing) | IDS if existing else IDS
        vertex_ids = st.sampled_from(vertices) | st.sampled_from(vertices) | IDS if vertices else IDS
        ops = [data.draw(operation(ids, vertex_ids)) for _ in range(size)]
        self.mutate([{k: v for k, v in op.items() if v is not None or k != "if_rev"} for op in ops], user)

    @rule(data=st.data(), count=st.integers(1, 3))
    def grow(self, data: st.DataObject, count: int) -> None:
        """A valid batch: new vertices, and edges between any vertices (so traversals have paths)."""
        self.fresh += count
        new = [f"w{self.fresh - i}" for i in range(count)]
        ops: list[dict[str, Any]] = [
            {
                "op": "add_vertex",
                "element_id": v,
                "labels": data.draw(st.lists(VERTEX_LABELS, min_size=1, max_size=2, unique=True)),
                "props": data.draw(PROPS),
            }
            for v in new
        ]
        vertices = st.sampled_from(
            new + [e["element_id"] for e in self.model.ordered() if e["type"] == "vertex"]
        )
        for index in range(data.draw(st.integers(1, 4))):
            ops.append(
                {
                    "op": "add_edge",
                    "element_id": f"{new[0]}-e{index}",
                    "label": data.draw(EDGE_LABELS),
                    "from_id": data.draw(vertices),
                    "to_id": data.draw(vertices),
                    "props": data.draw(PROPS),
                }
            )
        self.mutate(ops, "u2")

    @rule(data=st.data())
    def correct_if_rev(self, data: st.DataObject) -> None:
        if not self.model.elements:
            return
        element = data.draw(st.sampled_from(self.model.ordered()))
        self.mutate(
            [
                {
                    "op": f"set_{element['type']}_props",
                    "element_id": element["element_id"],
                    "props": {"x": 1},
                    "if_rev": element["rev"],
                }
            ],
            "u1",
        )

    @rule(labels=st.lists(VERTEX_LABELS, min_size=1, max_size=2, unique=True))
    def add_vertex_with_server_id(self, labels: list[str]) -> None:
        result = self.call(
            self.engine.objects.apply_graph_mutations, NS, S, G, [{"op": "add_vertex", "labels": labels}]
        )
        new_id = result.elements[0].element_id
        self.model.apply(
            [{"op": "add_vertex", "element_id": new_id, "labels": labels}], self.clock.now(), None
        )

    @rule()
    def reupload_keeps_elements(self) -> None:
        self.call(self.engine.objects.upload, NS, S, G, {"type": "graph", "graph": {"attributes": {"v": 2}}})

    @rule(seconds=st.sampled_from([0, 1]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(data=st.data(), ascending=st.booleans(), limit=st.integers(1, 3), ids_only=st.booleans())
    def page_elements(self, data: st.DataObject, ascending: bool, limit: int, ids_only: bool) -> None:
        kind = data.draw(st.sampled_from([None, "vertex", "edge"]))
        stamps = sorted({e["updated_at"] for e in self.model.ordered()})
        since = data.draw(st.none() | st.sampled_from(stamps)) if stamps else None
        seen: list[Any] = []
        cursor = None
        for _ in range(200):
            answer = self.call(
                self.engine.objects.list_graph_elements,
                NS,
                S,
                G,
                type=kind,
                ascending=ascending,
                cursor=cursor,
                updated_since=since,
                limit=limit,
            )
            page = element_page_document(answer, ids_only=ids_only)
            seen += page["element_ids" if ids_only else "elements"]
            cursor = page["cursor"]
            if cursor is None:
                break
        expected = [e for e in self.model.ordered() if kind is None or e["type"] == kind]
        if since is not None:
            expected = sorted((e for e in expected if e["updated_at"] > since), key=lambda e: e["_updated"])
        if not ascending:
            expected.reverse()
        if ids_only:
            assert seen == [
                {"element_id": e["element_id"], "type": e["type"], "rev": e["rev"]} for e in expected
            ]
        else:
            assert seen == [Model.public(e) for e in expected]

    @rule(
        data=st.data(),
        direction=st.sampled_from(["out", "in", "both"]),
        label=st.none() | EDGE_LABELS,
        neighbor_label=st.none() | VERTEX_LABELS,
        limit=st.integers(1, 3),
    )
    def neighbors(
        self, data: st.DataObject, direction: str, label: str | None, neighbor_label: str | None, limit: int
    ) -> None:
        known = (
            st.sampled_from([e["element_id"] for e in self.model.ordered()]) if self.model.elements else IDS
        )
        sources = data.draw(st.lists(known | IDS, min_size=1, max_size=3))
        want_edges, want_vertices = self.model.neighbors(sources, direction, label, neighbor_label)
        options = {"direction": direction, "label": label, "neighbor_label": neighbor_label}
        whole = neighborhood_document(
            self.call(self.engine.objects.graph_neighbors, NS, S, G, sources, limit=1000, **options)
        )
        assert [e["element_id"] for e in whole["edges"]] == want_edges
        assert [v["element_id"] for v in whole["vertices"]] == want_vertices
        assert whole["cursor"] is None
        seen: list[str] = []
        cursor = None
        for _ in range(100):
            page = neighborhood_document(
                self.call(
                    self.engine.objects.graph_neighbors,
                    NS,
                    S,
                    G,
                    sources,
                    limit=limit,
                    cursor=cursor,
                    **options,
                )
            )
            seen += [e["element_id"] for e in page["edges"]]
            cursor = page["cursor"]
            if cursor is None:
                break
        assert seen == want_edges

    @rule(query=queries())
    def traverse(self, query: dict[str, Any]) -> None:
        expected = self.model.query(query)
        assert query_document(self.call(self.engine.objects.query_graph, NS, S, G, query)) == expected, query

    @invariant()
    def elements_match(self) -> None:
        got = self.call(self.engine.objects.list_graph_elements, NS, S, G, ascending=True, limit=1000)
        assert element_page_document(got)["elements"] == [Model.public(e) for e in self.model.ordered()]
        self.steps += 1
        if self.steps % 25 == 0:
            assert self.call(self.engine.verify) == []


def test_graphs_match_the_model(harness: Callable[..., EngineHarness]) -> None:
    class Machine(GraphMachine):
        make = staticmethod(harness)

    run_state_machine_as_test(Machine)
