"""BlobHub's wire shapes: one body model per command, validated at the edge. Payloads the engine
checks by name (values, messages, content, operations, queries) stay `Any` here."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


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
