"""Resource routes for typed session objects, thread items and graphs (`/api/sessions/{id}/objects`).

The BlobHub commands in resource style: each route runs its command's one function
(`adapters.blobhub.commands.COMMANDS`) and answers the engine's document in this family's
framing. Payloads the engine validates by name (object values, content, operations, queries) pass
through as JSON; the engine's named error becomes the `code` of the resource error shape.

The engine checks every argument itself (addresses by its identifier rule, `invalid_session_object`;
read arguments the database could not compare, and instants out of range, as an
`UnreadableArgument`, which this family answers as `invalid_request`: `adapters.rest.errors`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from session_engine.adapters.blobhub.commands import COMMANDS
from session_engine.adapters.blobhub.documents import BODIES
from session_engine.adapters.rest.auth import Caller, caller
from session_engine.adapters.rest.bodies import read_model
from session_engine.adapters.rest.errors import ResourceError, responses
from session_engine.adapters.rest.params import refuse_nul
from session_engine.adapters.rest.schema import json_body

router = APIRouter(
    prefix="/api/sessions/{session_id:seg}/objects",
    tags=["objects"],
    responses=responses(ResourceError, 400, 401, 404, 409, 410, 413, 500),
)
CallerDep = Annotated[Caller, Depends(caller)]
Limit = Annotated[int | None, Query(ge=1, le=1000, description="Page size (capped by the server).")]
Cursor = Annotated[str | None, Query(max_length=1000, description="The `cursor` of the previous page.")]
Instant = Annotated[str | None, Query(max_length=64, description="ISO 8601 instant.")]


class Document(BaseModel):
    """A JSON document as described in specs/rest.md (BlobHub shapes)."""

    model_config = ConfigDict(extra="allow")


class ObjectValueIn(BaseModel):
    """The object's `value`: `type` selects the shape (message, messages, thread, graph)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(description="message | messages | thread | graph")


class MessagesIn(BaseModel):
    messages: list[dict[str, Any]] = Field(min_length=1, description="BlobHub messages to append.")


class ThreadItemIn(BaseModel):
    content: list[dict[str, Any]] = Field(min_length=1, description="Content blocks.")
    parent_id: str | None = None
    metadata: dict[str, Any] | None = None


class MutationsIn(BaseModel):
    operations: list[dict[str, Any]] = Field(description="Graph operations, applied all or none.")


class NeighborsIn(BaseModel):
    from_: list[str] = Field(alias="from", min_length=1, max_length=1000)
    direction: Literal["out", "in", "both"] = "both"
    label: str | None = None
    neighbor_label: str | None = None
    cursor: str | None = None
    limit: int | None = Field(default=None, ge=1, le=1000)


class QueryIn(BaseModel):
    query: dict[str, Any] = Field(description='`{"start": ["V"], "steps": [...]}`')


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json")


async def _run(who: Caller, command: str, session_id: str, **fields: Any) -> Any:
    """Run BlobHub's `command` (`adapters.blobhub.commands.COMMANDS`) with these fields, answering
    the engine's document. The body is built unchecked: this route's parameters were checked by
    FastAPI, and the engine checks the address and every argument it reads."""
    body = BODIES[command].model_construct(command=command, session_id=session_id, **fields)
    return await COMMANDS[command](who.engine.objects, who.namespace, body, who.metadata())


@router.get("", response_model=Document, summary="The session's objects (alias, type, updated_at)")
async def list_objects(
    session_id: str, who: CallerDep, cursor: Cursor = None, limit: Limit = None
) -> Response:
    return _json(await _run(who, "list_session_objects", session_id, cursor=cursor, limit=limit))


@router.put(
    "/{alias:seg}",
    response_model=Document,
    openapi_extra=json_body(ObjectValueIn),
    summary="Create or replace an object",
)
async def upload(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    value = (await read_model(request, ObjectValueIn)).model_dump()
    return _json(await _run(who, "upload_session_object", session_id, alias=alias, value=value))


@router.get("/{alias:seg}", response_model=Document, summary="The full envelope")
async def download(session_id: str, alias: str, who: CallerDep) -> Response:
    return _json(await _run(who, "download_session_object", session_id, alias=alias))


@router.delete("/{alias:seg}", status_code=204, response_class=Response, summary="Delete (cascades)")
async def delete(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    await _run(who, "delete_session_object", session_id, alias=alias)
    return Response(status_code=204)


@router.post(
    "/{alias:seg}/messages",
    response_model=Document,
    openapi_extra=json_body(MessagesIn),
    summary="Append to a messages object",
)
async def append_messages(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    body = await read_model(request, MessagesIn)
    return _json(await _run(who, "append_session_messages", session_id, alias=alias, messages=body.messages))


@router.post(
    "/{alias:seg}/items",
    status_code=201,
    response_model=Document,
    openapi_extra=json_body(ThreadItemIn),
    summary="Post a thread item",
)
async def post_item(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    body = await read_model(request, ThreadItemIn)
    fields = {"content": body.content, "parent_id": body.parent_id, "metadata": body.metadata}
    return _json(await _run(who, "post_session_thread_item", session_id, alias=alias, **fields), 201)


@router.get("/{alias:seg}/items", response_model=Document, summary="A page of thread items")
async def list_items(
    session_id: str,
    alias: str,
    who: CallerDep,
    ascending: bool = False,
    created_since: Instant = None,
    created_before: Instant = None,
    cursor: Cursor = None,
    limit: Limit = None,
) -> Response:
    page = await _run(
        who,
        "list_session_thread_items",
        session_id,
        alias=alias,
        ascending=ascending,
        created_since=created_since,
        created_before=created_before,
        cursor=cursor,
        limit=limit,
    )
    return _json(page)


@router.get("/{alias:seg}/items/{item_id:seg}", response_model=Document, summary="One thread item")
async def get_item(session_id: str, alias: str, item_id: str, who: CallerDep) -> Response:
    return _json(await _run(who, "get_session_thread_item", session_id, alias=alias, item_id=item_id))


@router.post(
    "/{alias:seg}/mutations",
    response_model=Document,
    openapi_extra=json_body(MutationsIn),
    summary="Apply graph mutations atomically",
)
async def mutate(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    body = await read_model(request, MutationsIn)
    return _json(
        await _run(who, "apply_session_graph_mutations", session_id, alias=alias, operations=body.operations)
    )


@router.get("/{alias:seg}/elements", response_model=Document, summary="List graph elements (or get by `id`)")
async def list_elements(
    session_id: str,
    alias: str,
    who: CallerDep,
    id: Annotated[list[str] | None, Query(max_length=1000, description="Get these elements.")] = None,
    type: Literal["vertex", "edge"] | None = None,
    ascending: bool = False,
    cursor: Cursor = None,
    updated_since: Instant = None,
    ids_only: bool = False,
    limit: Limit = None,
) -> Response:
    if id is not None:
        refuse_nul("cursor", cursor)  # ignored beside `id`, but refused as the listing refuses it
        return _json(await _run(who, "get_session_graph_elements", session_id, alias=alias, element_ids=id))
    page = await _run(
        who,
        "list_session_graph_elements",
        session_id,
        alias=alias,
        type=type,
        ascending=ascending,
        cursor=cursor,
        updated_since=updated_since,
        ids_only=ids_only,
        limit=limit,
    )
    return _json(page)


@router.get("/{alias:seg}/elements/{element_id:seg}", response_model=Document, summary="One graph element")
async def get_element(session_id: str, alias: str, element_id: str, who: CallerDep) -> Response:
    return _json(await _run(who, "get_session_graph_element", session_id, alias=alias, element_id=element_id))


@router.post(
    "/{alias:seg}/neighbors",
    response_model=Document,
    openapi_extra=json_body(NeighborsIn),
    summary="Edges and vertices next to some elements",
)
async def neighbors(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    body = await read_model(request, NeighborsIn)
    fields = body.model_dump(exclude={"from_"})
    return _json(
        await _run(who, "list_session_graph_neighbors", session_id, alias=alias, from_=body.from_, **fields)
    )


@router.post(
    "/{alias:seg}/query",
    response_model=Document,
    openapi_extra=json_body(QueryIn),
    summary="Run a graph traversal",
)
async def query(session_id: str, alias: str, request: Request, who: CallerDep) -> Response:
    body = await read_model(request, QueryIn)
    return _json(await _run(who, "query_session_graph", session_id, alias=alias, query=body.query))
