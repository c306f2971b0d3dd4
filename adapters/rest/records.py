"""Resource routes for session records: Makaio's nine `storage:session` subjects over HTTP.

Bodies and responses are the seed's wire models (camelCase): each route calls the bus's function for
its subject (`adapters/rpc/bus/subjects.py`), which validates and answers them; the session id comes
from the path. A record that does not exist is 404 on `GET` (the bus answers
`{session: null}`); writes answer the subject's `{success, clientAccountChanged?}`.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from session_engine.adapters.rest.auth import Caller, caller
from session_engine.adapters.rest.bodies import read_json
from session_engine.adapters.rest.errors import ApiError, ResourceError, responses
from session_engine.adapters.rest.schema import json_body
from session_engine.adapters.rpc.bus.models import (
    DeleteResponse,
    GetChildrenResponse,
    ListResponse,
    SessionRecord,
    StatusCounts,
    UpdateRequest,
    WriteResponse,
)
from session_engine.adapters.rpc.bus.subjects import RecordSubjects

router = APIRouter(prefix="/api", tags=["records"], responses=responses(ResourceError, 400, 401, 404, 500))
CallerDep = Annotated[Caller, Depends(caller)]
Status = Annotated[
    str | None, Query(description="discovered | active | closed | archived | all (no filter)", max_length=16)
]


def _json(model: BaseModel) -> Response:
    return Response(orjson.dumps(model.model_dump(mode="json")), media_type="application/json")


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return data


@router.put(
    "/records/{session_id:seg}",
    response_model=WriteResponse,
    openapi_extra=json_body(SessionRecord),
    summary="set: store the whole record (ifAbsent: only when there is none)",
)
async def set_record(
    session_id: str, request: Request, who: CallerDep, ifAbsent: bool | None = None
) -> Response:
    wire: dict[str, Any] = {"sessionId": session_id, "session": await read_json(request)}
    if ifAbsent is not None:
        wire["ifAbsent"] = ifAbsent
    return _json(await RecordSubjects(who.engine).set(who.namespace, wire, metadata=who.metadata()))


@router.patch(
    "/records/{session_id:seg}",
    response_model=WriteResponse,
    openapi_extra=json_body(UpdateRequest),
    summary="update: change the fields given (null clears where allowed)",
)
async def update_record(session_id: str, request: Request, who: CallerDep) -> Response:
    wire = {**_object(await read_json(request)), "sessionId": session_id}
    return _json(await RecordSubjects(who.engine).update(who.namespace, wire, metadata=who.metadata()))


@router.get("/records/{session_id:seg}", response_model=SessionRecord, summary="get: one record (404: none)")
async def get_record(session_id: str, who: CallerDep) -> Response:
    found = await RecordSubjects(who.engine).get(who.namespace, {"sessionId": session_id})
    if found.session is None:
        raise ApiError(404, "not_found", f"no session record {session_id!r}")
    return _json(found.session)


@router.delete("/records/{session_id:seg}", response_model=DeleteResponse, summary="delete: hide the record")
async def delete_record(session_id: str, request: Request, who: CallerDep) -> Response:
    wire = {"sessionId": session_id}
    return _json(await RecordSubjects(who.engine).delete(who.namespace, wire, metadata=who.metadata()))


@router.get(
    "/records/{session_id:seg}/children",
    response_model=GetChildrenResponse,
    summary="getChildren: direct children with message counts",
)
async def children(session_id: str, who: CallerDep) -> Response:
    return _json(await RecordSubjects(who.engine).get_children(who.namespace, {"sessionId": session_id}))


@router.get(
    "/adapter-sessions/{adapter_session_id:seg}/record",
    response_model=SessionRecord,
    summary="getByAdapterSessionId (404: none)",
)
async def by_adapter_session(adapter_session_id: str, who: CallerDep) -> Response:
    found = await RecordSubjects(who.engine).get_by_adapter_session_id(
        who.namespace, {"adapterSessionId": adapter_session_id}
    )
    if found.session is None:
        raise ApiError(404, "not_found", f"no session record for adapter session {adapter_session_id!r}")
    return _json(found.session)


@router.get("/record-status-counts", response_model=StatusCounts, summary="getStatusCounts")
async def status_counts(who: CallerDep) -> Response:
    return _json(await RecordSubjects(who.engine).get_status_counts(who.namespace, {}))


@router.get(
    "/records",
    response_model=ListResponse,
    summary="list (newest activity first), or search when `query` is given",
)
async def list_records(
    who: CallerDep,
    query: Annotated[
        str | None, Query(max_length=1000, description="Full-text search (messages, title).")
    ] = None,
    status: Status = None,
    executionTargetId: Annotated[str | None, Query(max_length=200)] = None,
    includePreview: bool | None = None,
    isImported: bool | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    offset: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> Response:
    given = {
        "status": status,
        "executionTargetId": executionTargetId,
        "includePreview": includePreview,
        "isImported": isImported,
        "limit": limit,
        "offset": offset,
    }
    wire = {key: value for key, value in given.items() if value is not None}
    records = RecordSubjects(who.engine)
    if query is not None:
        if "executionTargetId" in wire or "includePreview" in wire or "offset" in wire:
            raise ApiError(400, "invalid_request", "search takes query, status, isImported and limit only")
        return _json(await records.search(who.namespace, {**wire, "query": query}))
    if "isImported" in wire:
        raise ApiError(400, "invalid_request", "isImported filters a search: give query too")
    return _json(await records.list(who.namespace, wire))
