"""BlobHub's wire shapes: one body model per command, validated at the edge, and the documents
the engine's answers become (`revision_id` is BlobHub's name for the engine's scope). Payloads the
engine checks by name (values, messages, content, operations, queries) stay `Any` here."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from session_engine.engine.objects.answers import (
    AppendSummary,
    ElementPage,
    GraphCount,
    GraphMutation,
    GraphResults,
    ItemPage,
    Neighborhood,
    ObjectPage,
    ObjectSummary,
    StoredObject,
    ThreadItem,
)
from session_engine.engine.objects.graphs.operations import Element
from session_engine.engine.objects.state import iso


class _Body(BaseModel):
    # BlobHub sends `engine` (and clients may send more); unknown fields are ignored, not refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    engine: str | None = Field(default=None, description="Accepted and ignored (`workflow_blobhub`).")
    session_id: str = Field(min_length=1, max_length=200)


class _Aliased(_Body):
    alias: str = Field(min_length=1, max_length=200)


Limit = Annotated[int | None, Field(default=None, ge=1, description="Page size; the server caps it.")]


class UploadSessionObject(_Aliased):
    command: Literal["upload_session_object"]
    value: Any = Field(default=None, description="`{type: message|messages|thread|graph, ...}`")


class DownloadSessionObject(_Aliased):
    command: Literal["download_session_object"]


class ListSessionObjects(_Body):
    command: Literal["list_session_objects"]
    cursor: str | None = Field(default=None, description="The `cursor` of the previous page.")
    limit: Limit = None


class DeleteSessionObject(_Aliased):
    command: Literal["delete_session_object"]


class AppendSessionMessages(_Aliased):
    """This project's addition: append to a `messages` object without re-uploading it."""

    command: Literal["append_session_messages"]
    messages: Any = None


class PostSessionThreadItem(_Aliased):
    command: Literal["post_session_thread_item"]
    content: Any = None
    parent_id: str | None = None
    metadata: Any = None


class ListSessionThreadItems(_Aliased):
    command: Literal["list_session_thread_items"]
    ascending: bool = False
    created_since: str | None = None
    created_before: str | None = None
    cursor: str | None = None
    limit: Limit = None


class GetSessionThreadItem(_Aliased):
    command: Literal["get_session_thread_item"]
    item_id: str = Field(min_length=1)


class ApplySessionGraphMutations(_Aliased):
    command: Literal["apply_session_graph_mutations"]
    operations: Any = None


class GetSessionGraphElement(_Aliased):
    command: Literal["get_session_graph_element"]
    element_id: str = Field(min_length=1)


class GetSessionGraphElements(_Aliased):
    command: Literal["get_session_graph_elements"]
    element_ids: list[str] = Field(max_length=1000)


class ListSessionGraphElements(_Aliased):
    command: Literal["list_session_graph_elements"]
    type: Literal["vertex", "edge"] | None = None
    ascending: bool = False
    cursor: str | None = None
    updated_since: str | None = None
    ids_only: bool = False
    limit: Limit = None


class ListSessionGraphNeighbors(_Aliased):
    command: Literal["list_session_graph_neighbors"]
    from_: list[str] = Field(alias="from")
    direction: Literal["out", "in", "both"] = "both"
    label: str | None = None
    neighbor_label: str | None = None
    cursor: str | None = None
    limit: Limit = None


class QuerySessionGraph(_Aliased):
    command: Literal["query_session_graph"]
    query: Any = None


CommandBody = Annotated[
    UploadSessionObject
    | DownloadSessionObject
    | ListSessionObjects
    | DeleteSessionObject
    | AppendSessionMessages
    | PostSessionThreadItem
    | ListSessionThreadItems
    | GetSessionThreadItem
    | ApplySessionGraphMutations
    | GetSessionGraphElement
    | GetSessionGraphElements
    | ListSessionGraphElements
    | ListSessionGraphNeighbors
    | QuerySessionGraph,
    Field(discriminator="command"),
]
"""Every command body as one discriminated union (for OpenAPI / JSON Schema)."""

BODIES: dict[str, type[_Body]] = {
    get_args(model.model_fields["command"].annotation)[0]: model
    for model in get_args(get_args(CommandBody)[0])
}
"""Wire command name -> its body model."""

command_schema: TypeAdapter[Any] = TypeAdapter(CommandBody)


WRAPPED = {
    "post_session_thread_item": "item",
    "get_session_thread_item": "item",
    "get_session_graph_element": "element",
}
"""Commands whose BlobHub answer holds the engine's document under a key."""
SILENT = frozenset({"upload_session_object", "delete_session_object"})
"""Writes whose BlobHub answer is `{}`, whatever the engine answers."""


def answer(command: str, result: Any) -> dict[str, Any]:
    """BlobHub's answer to a command, from the engine's (`commands.COMMANDS[command]`'s result)."""
    if command in SILENT:
        return {}
    if command in WRAPPED:
        return {WRAPPED[command]: result}
    return cast(dict[str, Any], result)


def summary_document(summary: ObjectSummary) -> dict[str, Any]:
    """An upload's or append's summary; an append adds `first_ordinal` and `count`."""
    document: dict[str, Any] = {
        "revision_id": summary.scope,
        "session_id": summary.session_id,
        "alias": summary.alias,
        "type": summary.type,
        "updated_at": iso(summary.updated_at),
    }
    if isinstance(summary, AppendSummary):
        document.update(first_ordinal=summary.first_ordinal, count=summary.count)
    return document


def object_document(stored: StoredObject) -> dict[str, Any]:
    """A downloaded session object."""
    return {
        "revision_id": stored.scope,
        "session_id": stored.session_id,
        "alias": stored.alias,
        "updated_at": iso(stored.updated_at),
        "value": stored.value,
    }


def object_list_document(page: ObjectPage) -> dict[str, Any]:
    """`{objects: [{alias, type, updated_at}], cursor}`."""
    return {
        "objects": [
            {"alias": o.alias, "type": o.type, "updated_at": iso(o.updated_at)} for o in page.objects
        ],
        "cursor": page.cursor,
    }


def item_document(item: ThreadItem) -> dict[str, Any]:
    """A thread item; `parent_id` and `metadata` appear only when set."""
    document: dict[str, Any] = {
        "id": item.id,
        "session_id": item.session_id,
        "revision_id": item.scope,
        "alias": item.alias,
        "created_at": iso(item.created_at),
        "user_id": item.user_id,
        "content": item.content,
    }
    if item.parent_id is not None:
        document["parent_id"] = item.parent_id
    if item.metadata is not None:
        document["metadata"] = item.metadata
    return document


def item_list_document(page: ItemPage) -> dict[str, Any]:
    """`{items, cursor}`."""
    return {"items": [item_document(item) for item in page.items], "cursor": page.cursor}


def element_document(element: Element) -> dict[str, Any]:
    """A graph element: a vertex's `labels`, or an edge's `label`, `from_id` and `to_id`."""
    document: dict[str, Any] = {"element_id": element.element_id, "type": element.type}
    if element.type == "vertex":
        document["labels"] = list(element.labels or [])
    else:
        document.update(label=element.label, from_id=element.from_id, to_id=element.to_id)
    document.update(
        props=element.props,
        rev=element.rev,
        created_at=iso(element.created_at),
        updated_at=iso(element.updated_at),
        user_id=element.user_id,
    )
    return document


def mutation_document(mutation: GraphMutation) -> dict[str, Any]:
    """`{elements: [{element_id, type, change, rev}]}`: what a mutation batch changed."""
    return {"elements": [asdict(change) for change in mutation.elements]}


def elements_document(elements: list[Element]) -> dict[str, Any]:
    """`{elements}`: the elements asked for by id."""
    return {"elements": [element_document(element) for element in elements]}


def element_page_document(page: ElementPage, *, ids_only: bool = False) -> dict[str, Any]:
    """`{cursor, elements}`, or `{cursor, element_ids: [{element_id, type, rev}]}` with `ids_only`."""
    if ids_only:
        ids = [{"element_id": e.element_id, "type": e.type, "rev": e.rev} for e in page.elements]
        return {"cursor": page.cursor, "element_ids": ids}
    return {"cursor": page.cursor, "elements": [element_document(e) for e in page.elements]}


def neighborhood_document(found: Neighborhood) -> dict[str, Any]:
    """`{edges, vertices, cursor}`."""
    return {
        "edges": [element_document(edge) for edge in found.edges],
        "vertices": [element_document(vertex) for vertex in found.vertices],
        "cursor": found.cursor,
    }


def query_document(answer: GraphCount | GraphResults) -> dict[str, Any]:
    """`{count}`, or `{results, truncated}` (elements as documents, other results as they are)."""
    if isinstance(answer, GraphCount):
        return {"count": answer.count}
    results = [element_document(r) if isinstance(r, Element) else r for r in answer.results]
    return {"results": results, "truncated": answer.truncated}
