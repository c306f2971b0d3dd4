"""The records service: Makaio's nine `storage:session` subjects, `engine.records`.

Each method takes the subject's request model (or its wire dict, validated here) and returns the
response model; `model_dump()` of a response is its wire form. Writes go through the command path,
one event per change; reads are the pure functions of `queries` on a read connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

from session_engine.engine.log.records import Metadata
from session_engine.engine.records import decide, queries
from session_engine.engine.records.errors import parse
from session_engine.engine.records.events import bus_event
from session_engine.engine.records.models import (
    DeleteRequest,
    DeleteResponse,
    GetByAdapterSessionIdRequest,
    GetChildrenRequest,
    GetChildrenResponse,
    GetRequest,
    GetResponse,
    GetStatusCountsRequest,
    ListRequest,
    ListResponse,
    SearchRequest,
    SearchResponse,
    SetRequest,
    SetResponse,
    StatusCounts,
    UpdateRequest,
    UpdateResponse,
    Wire,
)
from session_engine.engine.unit_of_work import check_identifier

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

T = TypeVar("T")
Request = Wire | Mapping[str, Any]

SUBJECTS: dict[str, tuple[type[Wire], str]] = {
    "set": (SetRequest, "set"),
    "update": (UpdateRequest, "update"),
    "get": (GetRequest, "get"),
    "getByAdapterSessionId": (GetByAdapterSessionIdRequest, "get_by_adapter_session_id"),
    "delete": (DeleteRequest, "delete"),
    "getChildren": (GetChildrenRequest, "get_children"),
    "getStatusCounts": (GetStatusCountsRequest, "get_status_counts"),
    "list": (ListRequest, "list"),
    "search": (SearchRequest, "search"),
}
"""Bus subject -> (its request model, the service method that answers it)."""


class RecordsService:
    """Session records with lineage, status counts, previews and search (namespace = tenant)."""

    SUBJECTS = SUBJECTS
    bus_event = staticmethod(bus_event)

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _read(self, namespace: str, query: Callable[[Connection], T]) -> T:
        check_identifier("namespace", namespace)
        return await self._engine.read(query)

    async def _lookup(self, namespace: str, query: Callable[[Connection], T]) -> T:
        """A point read by index (see `Engine.lookup`)."""
        check_identifier("namespace", namespace)
        return await self._engine.lookup(query)

    async def _write(self, command: Any) -> Any:
        return (await self._engine.execute(command)).result

    # -- writes ---------------------------------------------------------------------------------
    async def set(self, namespace: str, request: Request, *, metadata: Metadata | None = None) -> SetResponse:
        """Store a whole record (`ifAbsent`: only when none exists, else `success: false`)."""
        check_identifier("namespace", namespace)
        command = decide.SetRecord.build(
            namespace, parse(SetRequest, request), metadata=metadata or Metadata()
        )
        result: SetResponse = await self._write(command)
        return result

    async def update(
        self, namespace: str, request: Request, *, metadata: Metadata | None = None
    ) -> UpdateResponse:
        """Change the fields given; null clears where allowed; an unknown session gives `success: false`."""
        check_identifier("namespace", namespace)
        command = decide.UpdateRecord.build(
            namespace, parse(UpdateRequest, request), metadata=metadata or Metadata()
        )
        result: UpdateResponse = await self._write(command)
        return result

    async def delete(
        self, namespace: str, request: Request, *, metadata: Metadata | None = None
    ) -> DeleteResponse:
        """Hide the record from every read (its events stay); false when there was none."""
        check_identifier("namespace", namespace)
        command = decide.DeleteRecord.build(
            namespace, parse(DeleteRequest, request), metadata=metadata or Metadata()
        )
        return DeleteResponse(success=bool(await self._write(command)))

    # -- reads ----------------------------------------------------------------------------------
    async def get(self, namespace: str, request: Request) -> GetResponse:
        sid = parse(GetRequest, request).session_id
        return GetResponse(
            session=await self._lookup(namespace, lambda c: queries.get_record(c, namespace, sid))
        )

    async def get_by_adapter_session_id(self, namespace: str, request: Request) -> GetResponse:
        asid = parse(GetByAdapterSessionIdRequest, request).adapter_session_id
        found = await self._lookup(namespace, lambda c: queries.get_by_adapter_session_id(c, namespace, asid))
        return GetResponse(session=found)

    async def get_children(self, namespace: str, request: Request) -> GetChildrenResponse:
        sid = parse(GetChildrenRequest, request).session_id
        found = await self._read(namespace, lambda c: queries.children(c, namespace, sid))
        return GetChildrenResponse(children=found)

    async def get_status_counts(self, namespace: str, request: Request | None = None) -> StatusCounts:
        parse(GetStatusCountsRequest, request if request is not None else {})
        return await self._lookup(namespace, lambda c: queries.status_counts(c, namespace))

    async def list(self, namespace: str, request: Request | None = None) -> ListResponse:
        parsed = parse(ListRequest, request if request is not None else {})
        return await self._read(namespace, lambda c: queries.list_sessions(c, namespace, parsed))

    async def search(self, namespace: str, request: Request) -> SearchResponse:
        parsed = parse(SearchRequest, request)
        return await self._read(namespace, lambda c: queries.search(c, namespace, parsed))
