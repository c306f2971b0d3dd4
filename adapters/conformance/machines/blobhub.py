"""BlobHub session objects over HTTP (envelopes, threads, graphs) against the objects and graph models."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, rule

from session_engine.adapters.conformance import strategies as records
from session_engine.adapters.conformance.machines.base import WireMachine
from session_engine.adapters.conformance.models import graph as graph_model
from session_engine.adapters.conformance.models import objects as objects_model
from session_engine.adapters.conformance.wire import Disagreement, HttpClient, check

REFUSALS = {
    "ObjectNotFound": (404, "not_found"),
    "ElementNotFound": (404, "not_found"),
    "ElementExists": (409, "element_exists"),
    "RevMismatch": (409, "rev_mismatch"),
    "InvalidGraphOperation": (400, "invalid_graph_operation"),
    "InvalidGraphEnvelope": (400, "invalid_graph_envelope"),
    "InvalidThreadEnvelope": (400, "invalid_thread_envelope"),
    "InvalidThreadItem": (400, "invalid_thread_item"),
    "InvalidMessagesEnvelope": (400, "invalid_messages_envelope"),
}
"""The model's refusal -> BlobHub's (HTTP status, error name)."""
SHOWN = ("element_id", "type", "labels", "label", "from_id", "to_id", "props", "rev")
"""The element fields compared (timestamps and user ids are the server's own)."""
SHOWN_ITEM = ("id", "alias", "content", "parent_id", "metadata")
"""The thread item fields compared (`created_at` and `user_id` are the server's own)."""
TERMINAL_STEPS = frozenset({"values", "properties", "project", "count"})
REVISION = st.sampled_from([0, 0, 0, 1])
"""Which of the kit's two revisions a step works in: mostly the first; the second keeps them apart."""
T = TypeVar("T")
WRITES = frozenset(
    {
        "upload_session_object",
        "delete_session_object",
        "append_session_messages",
        "post_session_thread_item",
        "apply_session_graph_mutations",
    }
)
"""Commands that change objects: after one, the state invariant reads every thread and graph."""
START_GRAPH = [
    {"op": "add_vertex", "element_id": "n0", "labels": ["p"], "props": {"x": 1}},
    {"op": "add_vertex", "element_id": "n1", "labels": ["q"], "props": {}},
    {"op": "add_edge", "element_id": "n2", "label": "k", "from_id": "n0", "to_id": "n1", "props": {}},
]
"""What `g` starts with, so the first batch, neighbour query or traversal already has elements."""


def shown(document: Any, fields: tuple[str, ...]) -> Any:
    """The compared fields of a document (anything else as it came, so a wrong shape shows)."""
    return {k: document[k] for k in fields if k in document} if isinstance(document, dict) else document


def attempt(compute: Callable[[], T]) -> tuple[T | None, graph_model.Refused | None]:
    """The model's answer, or the refusal it expects."""
    try:
        return compute(), None
    except graph_model.Refused as refused:
        return None, refused


class BlobHubMachine(WireMachine):
    """BlobHub session objects through `POST /revisions/{revision}/data`, in two revisions that must
    stay apart: envelopes (upload, download, list, delete, append), thread items (post, get, pages,
    time filters), graph mutation batches (atomic, revisions, refusals), neighbours and traversals."""

    @initialize()
    def start(self) -> None:
        self.http = HttpClient(self.target, self.log)
        self.session = f"{self.token}-objects"
        self.revisions = tuple(dict.fromkeys((self.options.revision, self.options.second_revision)))
        self.models = {revision: objects_model.Session() for revision in self.revisions}
        self.dirty = True
        self.upload(0, "g", {"type": "graph", "graph": {"attributes": {"name": "g"}}})
        self.upload(0, "t", {"type": "thread", "thread": {"attributes": {"name": "t"}}})
        self.mutate(0, "g", START_GRAPH)

    def command(self, which: int, command: str, alias: str | None, **fields: Any) -> tuple[int, Any]:
        revision = self.revisions[which % len(self.revisions)]
        self.dirty = self.dirty or command in WRITES
        body = {"engine": "workflow_blobhub", "command": command, "session_id": self.session}
        path = f"/revisions/{quote(revision, safe='')}/data"
        return self.http.request(
            "POST", path, {**body, **({} if alias is None else {"alias": alias}), **fields}
        )

    def model(self, which: int) -> objects_model.Session:
        return self.models[self.revisions[which % len(self.revisions)]]

    def owner(self, which: int) -> dict[str, str]:
        return {"revision_id": self.revisions[which % len(self.revisions)], "session_id": self.session}

    def alias_of(self, data: st.DataObject, which: int, kind: str) -> str:
        """Mostly the alias of a `kind` object; sometimes any (a command on another type is refused)."""
        chosen = self.model(which).aliases(kind)
        return data.draw(st.sampled_from(chosen) | records.ALIASES if chosen else records.ALIASES)

    @staticmethod
    def refused(what: str, refusal: graph_model.Refused, answer: tuple[int, Any]) -> None:
        status, document = answer
        error = document.get("error") if isinstance(document, dict) else document
        check(f"{what}: refused with {refusal.name}", REFUSALS[refusal.name], (status, error))

    # -- envelopes -----------------------------------------------------------------------------
    def upload(self, which: int, alias: str, value: dict[str, Any]) -> None:
        got = self.command(which, "upload_session_object", alias, value=value)
        self.model(which).upload(alias, value)
        check(f"upload {alias!r}", (200, {}), got)

    @rule(data=st.data(), which=REVISION, alias=records.ALIASES, kind=records.OBJECT_TYPES)
    def upload_object(self, data: st.DataObject, which: int, alias: str, kind: str) -> None:
        self.upload(which, alias, data.draw(records.object_values(kind)))

    @rule(which=REVISION, alias=records.ALIASES)
    def download(self, which: int, alias: str) -> None:
        expected, refusal = attempt(lambda: self.model(which).download(alias))
        status, document = self.command(which, "download_session_object", alias)
        if refusal is not None:
            self.refused(f"download {alias!r}", refusal, (status, document))
            return
        want = {**self.owner(which), "alias": alias, "value": expected}
        fields = ("revision_id", "session_id", "alias", "value")
        check(f"download {alias!r}", (200, want), (status, shown(document, fields)))

    @rule(which=REVISION)
    def list_objects(self, which: int) -> None:
        status, document = self.command(which, "list_session_objects", None)
        listed = document.get("objects") if isinstance(document, dict) else None
        pairs = [(o.get("alias"), o.get("type")) for o in listed] if isinstance(listed, list) else document
        cursor = document.get("cursor") if isinstance(document, dict) else None
        check(
            "the session's objects (alias, type)",
            (200, self.model(which).listing(), None),
            (status, pairs, cursor),
        )

    @rule(which=REVISION, alias=records.ALIASES)
    def delete(self, which: int, alias: str) -> None:
        _, refusal = attempt(lambda: self.model(which).delete(alias))
        got = self.command(which, "delete_session_object", alias)
        if refusal is not None:
            self.refused(f"delete {alias!r}", refusal, got)
        else:
            check(f"delete {alias!r}", (200, {}), got)

    @rule(data=st.data(), which=REVISION, messages=st.lists(records.MESSAGES, min_size=1, max_size=2))
    def append(self, data: st.DataObject, which: int, messages: list[Any]) -> None:
        alias = self.alias_of(data, which, "messages")
        expected, refusal = attempt(lambda: self.model(which).append(alias, messages))
        status, document = self.command(which, "append_session_messages", alias, messages=messages)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"append to {alias!r}", refusal, (status, document))
            return
        first, count = expected
        want = {
            **self.owner(which),
            "alias": alias,
            "type": "messages",
            "first_ordinal": first,
            "count": count,
        }
        check(f"append to {alias!r}", (200, want), (status, shown(document, tuple(want))))

    # -- threads -------------------------------------------------------------------------------
    @rule(
        data=st.data(),
        which=REVISION,
        contents=st.lists(records.ITEM_CONTENT, min_size=1, max_size=2),
        parent=records.PARENTS,
        metadata=records.ITEM_METADATA,
    )
    def post_items(
        self, data: st.DataObject, which: int, contents: list[list[Any]], parent: str | None, metadata: Any
    ) -> None:
        """One or two items posted to one thread, one request each."""
        alias = self.alias_of(data, which, "thread")
        for content in contents:
            self.post(which, alias, content, parent, metadata)

    def post(self, which: int, alias: str, content: list[Any], parent: str | None, metadata: Any) -> None:
        model = self.model(which)
        _, refusal = attempt(lambda: model.check_post(alias, content))
        fields = {"content": content, "parent_id": parent, "metadata": metadata}
        status, document = self.command(which, "post_session_thread_item", alias, **fields)
        if refusal is not None:
            self.refused(f"post to {alias!r}", refusal, (status, document))
            return
        item = document.get("item") if status == 200 and isinstance(document, dict) else None
        want = {"alias": alias, "content": content, **self.owner(which)}
        want |= {k: v for k, v in (("parent_id", parent), ("metadata", metadata)) if v is not None}
        check(f"post to {alias!r}", (200, want), (status, shown(item, (*SHOWN_ITEM[1:], *self.owner(which)))))
        assert isinstance(item, dict)
        try:
            created = datetime.fromisoformat(item["created_at"])
        except (KeyError, TypeError, ValueError):
            raise Disagreement(
                "the item's created_at", "an ISO 8601 instant", item.get("created_at")
            ) from None
        model.post(alias, objects_model.Item(str(item.get("id")), created, content, parent, metadata, None))

    def item_document(self, item: objects_model.Item, alias: str) -> dict[str, Any]:
        document = {"id": item.id, "alias": alias, "content": item.content}
        return document | {
            k: v for k, v in (("parent_id", item.parent_id), ("metadata", item.metadata)) if v is not None
        }

    @rule(
        data=st.data(),
        which=REVISION,
        ascending=st.booleans(),
        limit=st.integers(1, 3),
    )
    def list_items(self, data: st.DataObject, which: int, ascending: bool, limit: int) -> None:
        """Every page of a thread (or its refusal), in the asked order, maybe between two instants."""
        alias, model = self.alias_of(data, which, "thread"), self.model(which)
        known, refusal = attempt(lambda: model.items(alias, ascending=True))
        # An item's instant, chosen by the item's place: ties in the server's clock must not change
        # what is drawn (a replay would draw otherwise).
        times = [i.created_at for i in known or []]
        since = data.draw(st.none() | st.sampled_from(times)) if times else None
        before = data.draw(st.none() | st.sampled_from(times)) if times else None
        bounds = {k: v.isoformat() for k, v in (("created_since", since), ("created_before", before)) if v}
        seen: list[Any] = []
        cursor = None
        for _ in range(50):
            status, document = self.command(
                which,
                "list_session_thread_items",
                alias,
                ascending=ascending,
                limit=limit,
                cursor=cursor,
                **bounds,
            )
            if refusal is not None:
                self.refused(f"the items of {alias!r}", refusal, (status, document))
                return
            page = document.get("items") if status == 200 and isinstance(document, dict) else None
            check(
                f"a page of {alias!r}'s items: status and size <= {limit}",
                (200, True),
                (status, isinstance(page, list) and len(page) <= limit),
            )
            assert isinstance(page, list) and isinstance(document, dict)
            seen += [shown(item, SHOWN_ITEM) for item in page]
            cursor = document.get("cursor")
            if cursor is None:
                break
        expected = [self.item_document(i, alias) for i in model.items(alias, ascending, since, before)]
        order = "oldest first" if ascending else "newest first"
        check(f"the items of {alias!r}, {order}, {bounds or 'unfiltered'}", expected, seen)

    @rule(data=st.data(), which=REVISION)
    def get_item(self, data: st.DataObject, which: int) -> None:
        alias, model = self.alias_of(data, which, "thread"), self.model(which)
        known = [i.id for i in model.thread(alias)] if alias in model.aliases("thread") else []
        item_id = data.draw(st.sampled_from([*known, "absent"]))
        expected, refusal = attempt(lambda: model.item(alias, item_id))
        status, document = self.command(which, "get_session_thread_item", alias, item_id=item_id)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"item {item_id!r} of {alias!r}", refusal, (status, document))
            return
        item = document.get("item") if isinstance(document, dict) else document
        check(
            f"item {item_id!r} of {alias!r}",
            (200, self.item_document(expected, alias)),
            (status, shown(item, SHOWN_ITEM)),
        )

    # -- graphs --------------------------------------------------------------------------------

    def mutate(self, which: int, alias: str, ops: list[dict[str, Any]]) -> None:
        model = self.model(which)
        changes, refusal = attempt(lambda: model.graph(alias).apply(ops, self.now(), None))
        got = self.command(which, "apply_session_graph_mutations", alias, operations=ops)
        if refusal is not None:
            self.refused(f"a batch on {alias!r}", refusal, got)
        else:
            check(f"the batch's changes on {alias!r}", (200, {"elements": changes}), got)

    @rule(data=st.data(), which=REVISION, size=st.integers(1, 4))
    def apply_batch(self, data: st.DataObject, which: int, size: int) -> None:
        alias = self.alias_of(data, which, "graph")
        graph = self.model(which).objects.get(alias)
        ordered = graph.graph.ordered() if graph is not None and graph.type == "graph" else []
        existing = [e["element_id"] for e in ordered]
        vertices = [e["element_id"] for e in ordered if e["type"] == "vertex"]
        ids = st.sampled_from(existing) | records.IDS if existing else records.IDS
        vertex_ids = st.sampled_from(vertices) | records.IDS if vertices else records.IDS
        ops = [data.draw(records.operation(ids, vertex_ids)) for _ in range(size)]
        self.mutate(
            which, alias, [{k: v for k, v in op.items() if v is not None or k != "if_rev"} for op in ops]
        )

    @rule(
        data=st.data(),
        which=REVISION,
        direction=st.sampled_from(["out", "in", "both"]),
        label=st.none() | records.EDGE_LABELS,
        neighbor_label=st.none() | records.VERTEX_LABELS,
        limit=st.integers(1, 3),
    )
    def neighbors(
        self,
        data: st.DataObject,
        which: int,
        direction: str,
        label: str | None,
        neighbor_label: str | None,
        limit: int,
    ) -> None:
        """The whole answer in one page, then its edges page by page."""
        alias = self.alias_of(data, which, "graph")
        graph = self.model(which).objects.get(alias)
        known = [e["element_id"] for e in graph.graph.ordered()] if graph is not None else []
        sources = data.draw(
            st.lists(st.sampled_from(known) | records.IDS if known else records.IDS, min_size=1, max_size=3)
        )
        expected, refusal = attempt(
            lambda: self.model(which).graph(alias).neighbors(sources, direction, label, neighbor_label)
        )
        asked = {"from": sources, "direction": direction, "label": label, "neighbor_label": neighbor_label}
        what = f"the neighbours on {alias!r} of {asked}"
        status, document = self.command(which, "list_session_graph_neighbors", alias, limit=1000, **asked)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(what, refusal, (status, document))
            return
        ids = (
            [[e.get("element_id") for e in document.get(key, [])] for key in ("edges", "vertices")]
            if isinstance(document, dict)
            else document
        )
        check(f"{what} (edge ids, vertex ids)", (200, list(expected)), (status, ids))
        seen: list[Any] = []
        cursor = None
        for _ in range(50):
            status, document = self.command(
                which, "list_session_graph_neighbors", alias, limit=limit, cursor=cursor, **asked
            )
            check(f"{what}: a page's status", 200, status)
            seen += [e.get("element_id") for e in document.get("edges", [])]
            cursor = document.get("cursor")
            if cursor is None:
                break
        check(f"{what}, {limit} edges a page", expected[0], seen)

    @rule(data=st.data(), which=REVISION, query=records.queries())
    def traverse(self, data: st.DataObject, which: int, query: dict[str, Any]) -> None:
        alias = self.alias_of(data, which, "graph")
        expected, refusal = attempt(lambda: self.model(which).graph(alias).query(query))
        status, document = self.command(which, "query_session_graph", alias, query=query)
        if refusal is not None or expected is None:
            assert refusal is not None
            self.refused(f"the traversal {query} on {alias!r}", refusal, (status, document))
            return
        if not query["steps"] or query["steps"][-1][0] not in TERMINAL_STEPS:  # element documents
            expected = {**expected, "results": [shown(e, SHOWN) for e in expected["results"]]}
            if isinstance(document, dict) and isinstance(document.get("results"), list):
                document = {**document, "results": [shown(e, SHOWN) for e in document["results"]]}
        check(f"the traversal {query} on {alias!r}", (200, expected), (status, document))

    @invariant()
    def state_matches(self) -> None:
        """After a write: every thread's items (newest first, the default order, in one page) and
        every graph's live elements (read by id in the order asked; an absent id is skipped), in
        both revisions. Reads change nothing, so after one there is nothing new to compare."""
        if not getattr(self, "dirty", False):
            return
        for which, revision in enumerate(self.revisions):
            model = self.models[revision]
            for alias in model.aliases("thread"):
                status, document = self.command(which, "list_session_thread_items", alias, limit=1000)
                got = document.get("items") if status == 200 and isinstance(document, dict) else document
                listed = [shown(i, SHOWN_ITEM) for i in got] if isinstance(got, list) else got
                expected = [self.item_document(i, alias) for i in model.items(alias, ascending=False)]
                what = f"the items of {alias!r} in {revision!r}, newest first"
                check(what, (200, expected), (status, listed))
            for alias in model.aliases("graph"):
                ordered = model.graph(alias).ordered()
                ids = [e["element_id"] for e in ordered] + ["absent"]
                status, document = self.command(which, "get_session_graph_elements", alias, element_ids=ids)
                got = document.get("elements") if status == 200 and isinstance(document, dict) else document
                listed = [shown(e, SHOWN) for e in got] if isinstance(got, list) else got
                what = f"the elements of {alias!r} in {revision!r}"
                check(what, (200, [shown(e, SHOWN) for e in ordered]), (status, listed))
        self.dirty = False

    def teardown(self) -> None:
        if hasattr(self, "http"):
            self.http.close()
