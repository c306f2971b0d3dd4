"""BlobHub's command endpoint: `POST /revisions/{revision_id}/data` with `{"engine", "command", ...}`.

A thin HTTP wrapper around `adapters.blobhub.commands.run_command`. `revision_id` is any revision of the
caller's tenant (revisions are scoped inside it, see `adapters.blobhub`). `/data` and
`/data/command` take every command; `/data/query` only the reading ones. Errors:
`{"error": "<name>", "message": ...}`.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from session_engine.adapters.blobhub.commands import NAMES, QUERIES, run_command
from session_engine.adapters.blobhub.documents import command_schema
from session_engine.adapters.rest.auth import ADAPTER, Caller, caller
from session_engine.adapters.rest.bodies import read_json
from session_engine.adapters.rest.errors import BlobHubError, responses
from session_engine.adapters.rest.schema import json_body

router = APIRouter(tags=["blobhub"], responses=responses(BlobHubError, 400, 401, 404, 409, 410, 413, 500))
CallerDep = Annotated[Caller, Depends(caller)]
BODY = json_body(("BlobHubCommand", command_schema))


class CommandResult(BaseModel):
    """The command's result: `{}` for writes without one, else the reference's document."""

    model_config = ConfigDict(extra="allow")


async def _run(revision_id: str, request: Request, who: Caller, allowed: frozenset[str]) -> Response:
    body = await read_json(request)
    result = await run_command(
        who.engine,
        who.namespace,
        body,
        revision_id=revision_id,
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
    return await _run(revision_id, request, who, NAMES)


@router.post(
    "/revisions/{revision_id:seg}/data/command",
    response_model=CommandResult,
    openapi_extra=BODY,
    summary="Run any BlobHub command (alias of /data)",
)
async def data_command(revision_id: str, request: Request, who: CallerDep) -> Response:
    return await _run(revision_id, request, who, NAMES)


@router.post(
    "/revisions/{revision_id:seg}/data/query",
    response_model=CommandResult,
    openapi_extra=BODY,
    summary="Run a reading BlobHub command (download/list/get/query)",
)
async def data_query(revision_id: str, request: Request, who: CallerDep) -> Response:
    return await _run(revision_id, request, who, QUERIES)
