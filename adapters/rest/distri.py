"""The Distri session store routes (mounted under both `/v1` and `/api/v1`).

Byte-compatible with `@distri/core` and the Rust `distri` client: 204 on writes, `{"value": null}`
for a missing or expired key, a bare array from the session listing, `{"error": ...}` with 400 on
bad input. Bodies are parsed here (not by FastAPI) so that no Content-Type is required and every
refusal keeps Distri's error shape; gzip bodies were already inflated by `body.BodyAndPath`.

`setSessionValue` and `getSessionValue` have their route bodies in `set_session_value` and
`get_session_value`: the FastAPI routes call them, and so does `adapters.rest.hot`, which answers
those two routes in the server before any routing (`tests/adapters/rest/test_hot_routes.py`
compares the two paths' answers).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from session_engine.adapters.rest.auth import Caller, caller, caller_of
from session_engine.adapters.rest.bodies import parse_model
from session_engine.adapters.rest.errors import ApiError, DistriError, responses
from session_engine.adapters.rest.schema import json_body

router = APIRouter(tags=["distri"], responses=responses(DistriError, 400, 401, 404, 410, 413, 500))
CallerDep = Annotated[Caller, Depends(caller)]
JSON = "application/json"
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


UNADDRESSABLE_KEYS = frozenset({"", ".", ".."})
"""Keys no URL can name: `/values/` names no key, and clients remove `.` and `..` segments
(`/values/..` reaches them as `/sessions/{id}/`). Such a value could never be read or deleted
by key, so setting one is refused (specs/rest.md)."""


class SetValueBody(BaseModel):
    """`POST /sessions/{id}/values`. `expiry` absent or null: the value never expires."""

    model_config = ConfigDict(extra="ignore")
    key: str = Field(description='Any string but "", "." and ".."; `__user_part_<name>` keys are user parts.')
    value: Any = Field(description="Any JSON value (null included).")
    expiry: str | None = Field(default=None, description="RFC 3339 instant, e.g. 2026-01-01T00:00:00.000Z")
    recreate: bool = Field(
        default=False,
        description="Ours: write even when the session was deleted, bringing it back (else 410).",
    )

    @field_validator("key")
    @classmethod
    def _addressable(cls, key: str) -> str:
        if key in UNADDRESSABLE_KEYS:
            raise PydanticCustomError(
                "unaddressable_key", 'cannot be "", "." or "..": no URL can address such a key'
            )
        return key


class ValueResponse(BaseModel):
    value: Any = Field(description="The live value, or null when missing or expired.")


class ValuesResponse(BaseModel):
    values: dict[str, Any]


class SessionSummaryOut(BaseModel):
    session_id: str
    thread_id: str
    key_count: int
    keys: list[str]
    updated_at: str | None


class PartsResponse(BaseModel):
    parts: list[dict[str, Any]] = Field(description="Live user parts in creation order.")


class ClearedResponse(BaseModel):
    cleared: int = Field(description="How many live user parts were removed (in one event).")


def parse_expiry(text: str) -> datetime:
    """RFC 3339 with `Z`, fractions of any length (`Date.toISOString()` sends ms) or an offset."""
    match = _RFC3339.match(text)
    if match is None:
        raise ApiError(400, "bad_expiry", f"expiry must be an RFC 3339 date-time, got {text!r}")
    date, time, fraction, zone = match.groups()
    micro = (fraction or "0")[:6].ljust(6, "0")
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{time}.{micro}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):
        raise ApiError(400, "bad_expiry", f"expiry is not a valid instant: {text!r}") from None


def _json(document: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type=JSON)


NO_CONTENT = 204


async def set_session_value(who: Caller, session_id: str, raw_body: bytes) -> None:
    """setSessionValue's route body: answered 204, no body (the route below and
    `adapters.rest.hot` call it, each answering in its own framing)."""
    body = parse_model(raw_body, SetValueBody)
    expires_at = parse_expiry(body.expiry) if body.expiry is not None else None
    await who.engine.values.set(
        who.namespace,
        session_id,
        body.key,
        body.value,
        expires_at=expires_at,
        metadata=who.metadata(),
        recreate=body.recreate,
    )


async def get_session_value(who: Caller, session_id: str, key: str) -> bytes:
    """getSessionValue's route body: the JSON document answered 200 (the route below and
    `adapters.rest.hot` call it, each answering in its own framing)."""
    stored = await who.engine.values.get(who.namespace, session_id, key)
    return orjson.dumps({"value": None if stored is None else stored.value})


@router.post(
    "/sessions/{session_id:seg}/values",
    status_code=NO_CONTENT,
    response_class=Response,
    openapi_extra=json_body(SetValueBody),
    summary="setSessionValue: upsert one key",
)
async def set_value(session_id: str, request: Request) -> Response:
    await set_session_value(caller_of(request), session_id, await request.body())
    return Response(status_code=NO_CONTENT)


@router.get("/sessions/{session_id:seg}/values", response_model=ValuesResponse, summary="getSessionValues")
async def get_values(session_id: str, who: CallerDep) -> Response:
    return _json({"values": await who.engine.values.get_all(who.namespace, session_id)})


@router.get(
    "/sessions/{session_id:seg}/values/{key:rest}",
    response_model=ValueResponse,
    summary="getSessionValue: null when missing or expired, never 404",
)
async def get_value(session_id: str, key: str, request: Request) -> Response:
    return Response(await get_session_value(caller_of(request), session_id, key), media_type=JSON)


@router.delete(
    "/sessions/{session_id:seg}/values/{key:rest}",
    status_code=NO_CONTENT,
    response_class=Response,
    summary="deleteSessionValue: a missing key is not an error",
)
async def delete_value(session_id: str, key: str, who: CallerDep) -> Response:
    await who.engine.values.delete(who.namespace, session_id, key, metadata=who.metadata())
    return Response(status_code=NO_CONTENT)


@router.delete(
    "/sessions/{session_id:seg}",
    status_code=NO_CONTENT,
    response_class=Response,
    summary="clearSession: remove every value",
)
async def clear_session(session_id: str, who: CallerDep) -> Response:
    await who.engine.values.clear(who.namespace, session_id, metadata=who.metadata())
    return Response(status_code=NO_CONTENT)


@router.get("/sessions", response_model=list[SessionSummaryOut], summary="List sessions, newest first")
async def list_sessions(
    who: CallerDep,
    thread_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    page = await who.engine.values.list_sessions(
        who.namespace, limit=limit, offset=offset, session_id=thread_id
    )
    return _json(
        [
            {
                "session_id": s.session_id,
                "thread_id": s.session_id,
                "key_count": s.key_count,
                "keys": s.keys,
                "updated_at": s.updated_at.isoformat() if s.updated_at else None,
            }
            for s in page
        ]
    )


@router.get(
    "/sessions/{session_id:seg}/user-parts",
    response_model=PartsResponse,
    summary="The session's user parts, in creation order, ready to attach to a user message",
)
async def get_parts(session_id: str, who: CallerDep) -> Response:
    return _json({"parts": await who.engine.values.get_parts(who.namespace, session_id)})


@router.delete(
    "/sessions/{session_id:seg}/user-parts",
    response_model=ClearedResponse,
    summary="Clear every user part atomically (one event)",
)
async def clear_parts(session_id: str, who: CallerDep) -> Response:
    cleared = await who.engine.values.clear_parts(who.namespace, session_id, metadata=who.metadata())
    return _json({"cleared": cleared})
