"""Audit and time travel: a session's events, the whole log from a position, a session as it was.

Every read is bounded to the caller's namespace: the log listing passes it to the engine as a
filter, so positions of other tenants' events are skipped, never shown. A session's BlobHub objects
in a revision are a stream of their own: `revision_id` reads that one (absent: the session's own
stream, which holds the tenant's own revision, named like its namespace). Pages are capped by
`[limits].history_page_limit`; `next_*` says where the next page starts (null: no more).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, create_model
from starlette.responses import Response

from session_engine.adapters.blobhub.commands import revision_stream
from session_engine.adapters.config import ServerConfig
from session_engine.adapters.rest.auth import Caller, caller
from session_engine.adapters.rest.errors import ApiError, ResourceError, responses
from session_engine.adapters.rest.params import refuse_nul
from session_engine.engine import Engine, RecordedEvent, SessionState, StateDiff, as_utc
from session_engine.engine.inspect.history import SessionActivity
from session_engine.engine.log.chain import ChainCheck

router = APIRouter(prefix="/api", tags=["history"], responses=responses(ResourceError, 400, 401, 404, 500))
CallerDep = Annotated[Caller, Depends(caller)]
Types = Annotated[list[str] | None, Query(alias="type", description="Only events of these types.")]
PageLimit = Annotated[int, Query(ge=1, le=1000, description="Capped by [limits].history_page_limit.")]
Revision = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=200,
        description="A BlobHub revision: the session's stream in it (absent: the session's own).",
    ),
]


class EventOut(BaseModel):
    position: int
    stream: str = Field(description="The session id.")
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: str


class StreamPage(BaseModel):
    events: list[EventOut]
    next_version: int | None = Field(description="`from_version` of the next page; null at the end.")


class LogPage(BaseModel):
    events: list[EventOut]
    next_after: int | None = Field(description="`after` of the next page; null at the end.")


def _for_tenant(model: type[BaseModel], name: str) -> type[BaseModel]:
    """An engine answer as the wire shows it: the namespace implied, the stream named `session_id`."""
    fields: dict[str, Any] = {"session_id": (str, ...)}
    fields.update(
        (key, (field.annotation, field))
        for key, field in model.model_fields.items()
        if key not in ("namespace", "session")
    )
    return create_model(name, **fields)


SessionStateOut = _for_tenant(SessionState, "SessionStateOut")
StateDiffOut = _for_tenant(StateDiff, "StateDiffOut")


class HistoryEntryOut(BaseModel):
    version: int
    position: int
    type: str
    recorded_at: str
    metadata: dict[str, Any]
    summary: str = Field(
        description="One line: the event type and its data's first fields (as the CLI prints)."
    )


class HistoryPage(BaseModel):
    entries: list[HistoryEntryOut]
    next_version: int | None = Field(description="`from_version` of the next page; null at the end.")


class ChainOut(BaseModel):
    intact: bool = Field(description="No stored event breaks the chain.")
    head: int = Field(description="The last position the chain reached intact.")
    head_hash: str = Field(
        description="The hash there (hex): an anchor for `session-engine verify --expect-head`."
    )
    broken_at: int | None = Field(description="The first position that breaks the chain (null: none).")
    reason: str | None = Field(description="Why it breaks there (null: it does not).")


class SessionActivityOut(BaseModel):
    session_id: str
    version: int = Field(description="Its events so far.")
    last_position: int
    last_type: str
    last_recorded_at: str


class SessionsOut(BaseModel):
    sessions: list[SessionActivityOut] = Field(description="Newest activity first.")
    next_after: int | None = Field(description="`after` of the next page; null at the end.")


EVENT_FIELDS = tuple(EventOut.model_fields)
"""The fields of an event here: the tenant's namespace is implied."""


def event_json(event: RecordedEvent) -> dict[str, Any]:
    return event.to_json(EVENT_FIELDS)


def _json(document: Any) -> Response:
    return Response(orjson.dumps(document), media_type="application/json")


def _cap(request: Request, limit: int) -> int:
    config: ServerConfig = request.app.state.config
    return min(limit, config.limits.history_page_limit)


@dataclass(frozen=True)
class StreamPageQuery:
    """A page of one session's stream, as both its event routes take it: checked and capped."""

    stream: str
    from_version: int
    size: int
    types: list[str] | None

    def next_version(self, versions: list[int]) -> int | None:
        """`from_version` of the next page (None: this one was not full, so it was the last)."""
        return versions[-1] + 1 if len(versions) == self.size else None


def stream_page_query(
    session_id: str,
    request: Request,
    who: CallerDep,
    from_version: Annotated[int, Query(ge=1)] = 1,
    limit: PageLimit = 100,
    types: Types = None,
    revision_id: Revision = None,
) -> StreamPageQuery:
    refuse_nul("session_id", session_id)  # bound into SQL: PostgreSQL text cannot hold NUL
    refuse_nul("type", types)
    return StreamPageQuery(_stream(who, session_id, revision_id), from_version, _cap(request, limit), types)


StreamPageDep = Annotated[StreamPageQuery, Depends(stream_page_query)]


@router.get("/sessions/{session_id:seg}/events", response_model=StreamPage, summary="A session's events")
async def session_events(who: CallerDep, page: StreamPageDep) -> Response:
    events = await who.engine.read_stream(
        who.namespace, page.stream, from_version=page.from_version, limit=page.size, types=page.types
    )
    return _json(
        {
            "events": [event_json(e) for e in events],
            "next_version": page.next_version([e.version for e in events]),
        }
    )


@router.get(
    "/sessions/{session_id:seg}/history",
    response_model=HistoryPage,
    summary="A session's events as one-line summaries (what the audit console's timeline shows)",
)
async def session_history(who: CallerDep, page: StreamPageDep) -> Response:
    entries = await who.engine.history(
        who.namespace, page.stream, from_version=page.from_version, limit=page.size, types=page.types
    )
    return _json(
        {
            "entries": [entry.model_dump(mode="json") for entry in entries],
            "next_version": page.next_version([e.version for e in entries]),
        }
    )


class SharedScan:
    """One chain scan at a time for the whole server: any tenant may ask, and a scan reads every
    tenant's events, so callers that ask while one runs share its outcome (never an older one)."""

    def __init__(self) -> None:
        self._running: tuple[anyio.Event, list[ChainCheck | Exception]] | None = None

    async def run(self, engine: Engine) -> ChainCheck:
        if self._running is None:
            done, outcome = self._running = (anyio.Event(), [])
            try:
                outcome.append(await engine.verify_chain())
            except Exception as error:
                outcome.append(error)
                raise
            finally:
                self._running = None
                done.set()
        else:
            done, outcome = self._running
            await done.wait()
            if not outcome:  # the caller that ran it went away (cancelled): scan again
                return await self.run(engine)
        if isinstance(outcome[0], Exception):
            raise outcome[0]
        return outcome[0]


@router.get(
    "/chain",
    response_model=ChainOut,
    summary="The log's hash chain recomputed now (one chain over every tenant's events; reads the whole log)",
)
async def chain(request: Request, who: CallerDep) -> Response:
    scans: SharedScan | None = getattr(request.app.state, "chain_scan", None)
    if scans is None:
        scans = request.app.state.chain_scan = SharedScan()
    found = await scans.run(who.engine)
    return _json(
        {
            "intact": found.ok,
            "head": found.head,
            "head_hash": found.head_hash.hex(),
            "broken_at": found.broken_at,
            "reason": found.reason or None,
        }
    )


@router.get("/events", response_model=LogPage, summary="The log (this namespace) strictly after a position")
async def log_events(
    request: Request,
    who: CallerDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: PageLimit = 100,
    types: Types = None,
    session_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    revision_id: Revision = None,
) -> Response:
    refuse_nul("session_id", session_id)
    refuse_nul("type", types)
    if revision_id is not None and session_id is None:
        raise ApiError(400, "invalid_request", "revision_id names a session's stream: give session_id too")
    stream = None if session_id is None else _stream(who, session_id, revision_id)
    size = _cap(request, limit)
    events = await who.engine.read_all(
        after=after, limit=size, namespace=who.namespace, stream=stream, types=types
    )
    more = len(events) == size
    return _json(
        {"events": [event_json(e) for e in events], "next_after": events[-1].position if more else None}
    )


def _stream(who: Caller, session_id: str, revision_id: str | None) -> str:
    return session_id if revision_id is None else revision_stream(who.namespace, revision_id, session_id)


def _tenant_json(answer: SessionState | StateDiff, session_id: str) -> dict[str, Any]:
    document = answer.model_dump(mode="json", exclude={"namespace", "session"})
    return {"session_id": session_id, **document}


def _cut(name: str, text: str) -> int | datetime:
    """A point of a session's history on the wire: a version (digits) or an ISO 8601 instant with a zone."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ApiError(400, "invalid_request", f"{name} must be a version or an ISO 8601 instant with a zone")
    try:
        return as_utc(parsed)
    except OverflowError:
        raise ApiError(400, "invalid_request", f"{name} is out of range") from None


@router.get(
    "/sessions/{session_id:seg}/state",
    response_model=SessionStateOut,
    summary="A session as of a version, a position or an instant (exactly one)",
)
async def session_state(
    session_id: str,
    who: CallerDep,
    version: Annotated[int | None, Query(ge=0)] = None,
    position: Annotated[int | None, Query(ge=0)] = None,
    at: Annotated[datetime | None, Query(description="An ISO 8601 instant with a time zone.")] = None,
    revision_id: Revision = None,
) -> Response:
    refuse_nul("session_id", session_id)
    if sum(x is not None for x in (version, position, at)) != 1:
        raise ApiError(400, "invalid_request", "give exactly one of version, position or at")
    if at is not None and at.tzinfo is None:
        raise ApiError(400, "invalid_request", "at needs a time zone (e.g. Z or +00:00)")
    try:
        instant = as_utc(at) if at is not None else None
    except OverflowError:
        raise ApiError(400, "invalid_request", "at is out of range") from None
    stream = _stream(who, session_id, revision_id)
    state = await who.engine.state_as_of(
        who.namespace, stream, version=version, position=position, at=instant
    )
    return _json(await anyio.to_thread.run_sync(_tenant_json, state, session_id))  # many rows: off the loop


@router.get(
    "/sessions/{session_id:seg}/diff",
    response_model=StateDiffOut,
    summary="What changed in a session between two points (versions or instants)",
)
async def session_diff(
    session_id: str,
    who: CallerDep,
    a: Annotated[str, Query(max_length=64, description="A version, or an ISO 8601 instant with a zone.")],
    b: Annotated[str, Query(max_length=64, description="A version, or an ISO 8601 instant with a zone.")],
    revision_id: Revision = None,
) -> Response:
    refuse_nul("session_id", session_id)
    stream = _stream(who, session_id, revision_id)
    found = await who.engine.diff(who.namespace, stream, _cut("a", a), _cut("b", b))
    return _json(await anyio.to_thread.run_sync(_tenant_json, found, session_id))


@router.get(
    "/sessions", response_model=SessionsOut, summary="This namespace's sessions, newest activity first"
)
async def sessions(
    request: Request,
    who: CallerDep,
    after: Annotated[int | None, Query(ge=1, description="`next_after` of the previous page.")] = None,
    limit: PageLimit = 100,
    prefix: Annotated[
        str | None,
        Query(max_length=200, description="Only sessions whose id starts with this (case as given)."),
    ] = None,
) -> Response:
    page = await who.engine.sessions(who.namespace, after=after, limit=_cap(request, limit), prefix=prefix)
    return _json({"sessions": [session_json(s) for s in page.sessions], "next_after": page.next_after})


def session_json(activity: SessionActivity) -> dict[str, Any]:
    """A session of the list as the tenant sees it (its namespace implied): `SessionActivityOut`."""
    return {
        "session_id": activity.session,
        "version": activity.version,
        "last_position": activity.last_position,
        "last_type": activity.last_type,
        "last_recorded_at": activity.last_recorded_at.isoformat(),
    }
