"""BlobHub's command endpoint: `POST /revisions/{revision_id}/data` with `{"engine", "command", ...}`.

A thin HTTP wrapper around `adapters.blobhub.run_command`. `revision_id` must be the caller's
namespace (a tenant never addresses another revision). `/data` and `/data/command` take every
command; `/data/query` only the reading ones. Errors: `{"error": "<name>", "message": ...}`.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from session_engine.adapters.blobhub import COMMANDS, QUERIES, command_schema, run_command
from session_engine.adapters.rest.auth import ADAPTER, Caller, caller
from session_engine.adapters.rest.bodies import read_json
from session_engine.adapters.rest.errors import ApiError, BlobHubError, responses
from session_engine.adapters.rest.schema import json_body

router = APIRouter(tags=["blobhub"], responses=responses(BlobHubError, 400, 401, 403, 404, 409, 413, 500))
CallerDep = Annotated[Caller, Depends(caller)]
BODY = json_body(("BlobHubCommand", command_schema))


class CommandResult(BaseModel):
    """The command's result: `{}` for writes without one, else the reference's document."""

    model_config = ConfigDict(extra="allow")


async def _run(revision_id: str, request: Request, who: Caller, allowed: frozenset[str]) -> Response:
    if revision_id != who.namespace:
        raise ApiError(403, "forbidden", f"revision {revision_id!r} is not this API key's revision")
    body = await read_json(request)
    result = await run_command(
        who.engine,
        who.namespace,
        body,
        user_id=who.tenant.name,
        adapter=ADAPTER,
        correlation_id=request.headers.get("x-request-id"),
        allowed=allowed,
    )
    return Response(orjson.dumps(result), media_type="application/json")


@router.post(
    "/revisions/{revision_id:seg}/data",
    response_model=CommandResult,
    openapi_extra=BODY,
    summary="Run any BlobHub command",
)
async def data(revision_id: str, request: Request, who: CallerDep) -> Response:
    return await _run(revision_id, request, who, COMMANDS)


@router.post(
    "/revisions/{revision_id:seg}/data/command",
    response_model=CommandResult,
    openapi_extra=BODY,
    summary="Run any BlobHub command (alias of /data)",
)
async def data_command(revision_id: str, request: Request, who: CallerDep) -> Response:
    return await _run(revision_id, request, who, COMMANDS)


@router.post(
    "/revisions/{revision_id:seg}/data/query",
    response_model=CommandResult,
    openapi_extra=BODY,
    summary="Run a reading BlobHub command (download/list/get/query)",
)
async def data_query(revision_id: str, request: Request, who: CallerDep) -> Response:
    return await _run(revision_id, request, who, QUERIES)
