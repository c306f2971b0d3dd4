"""Makaio's nine `storage:session` subjects: a wire payload in, `engine.records`, a wire model out.

`SUBJECTS` is the table from a subject's name to the function that answers it (a method of
`RecordSubjects`, which binds them to one engine). Each validates the payload with the subject's
request model (`models.parse`: an `InvalidRecordRequest` naming the wire field), calls the engine in
its own types and shapes the answer as the subject's response model, whose `model_dump()` is the
wire form. The bus (`routes.py`) and the REST records routes both call these.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from session_engine.adapters.rpc.bus.models import (
    ChildSession,
    DeleteRequest,
    DeleteResponse,
    GetByAdapterSessionIdRequest,
    GetChildrenRequest,
    GetChildrenResponse,
    GetRequest,
    GetResponse,
    GetStatusCountsRequest,
    ListedSession,
    ListRequest,
    ListResponse,
    Preview,
    SearchedSession,
    SearchRequest,
    SearchResponse,
    SessionRecord,
    SetRequest,
    StatusCounts,
    UpdateRequest,
    Wire,
    WriteResponse,
    parse,
)
from session_engine.engine.log.records import Metadata
from session_engine.engine.records import Listed, ListQuery, Record, SearchQuery, WriteResult
from session_engine.engine.records.errors import InvalidRecordRequest
from session_engine.engine.records.queries import DEFAULT_LIST_LIMIT, DEFAULT_SEARCH_LIMIT

if TYPE_CHECKING:
    from session_engine.engine import Engine

W = TypeVar("W", bound=Wire)
Payload = Wire | Mapping[str, Any]


def wire(model: type[W], value: Any) -> W:
    """A domain dataclass as `model`: a None the model does not allow is an omitted field."""
    given = ((field.name, getattr(value, field.name)) for field in dataclasses.fields(value))
    return model(**{name: v for name, v in given if v is not None or name in model.nullable})


def _record(record: Record | None) -> SessionRecord | None:
    return None if record is None else SessionRecord.model_validate(record)


def _written(result: WriteResult) -> WriteResponse:
    return WriteResponse(success=result.success, client_account_changed=result.client_account_changed)


def _listed(model: type[W], found: Listed) -> W:
    preview = {} if found.preview is None else {"preview": wire(Preview, found.preview)}
    return model.model_validate({**found.record, **preview})


class RecordSubjects:
    """The subjects against one engine, in the tenant's namespace given to each call."""

    def __init__(self, engine: Engine) -> None:
        self.records = engine.records

    # -- writes ---------------------------------------------------------------------------------
    async def set(
        self, namespace: str, payload: Payload, *, metadata: Metadata | None = None
    ) -> WriteResponse:
        """Store a whole record (`ifAbsent`: only when none exists, else `success: false`)."""
        request = parse(SetRequest, payload)
        record = request.session.model_dump(mode="json")
        try:
            result = await self.records.set(
                namespace, request.session_id, record, if_absent=bool(request.if_absent), metadata=metadata
            )
        except InvalidRecordRequest as error:  # the engine names the record's fields
            raise error.under("session") from None
        return _written(result)

    async def update(
        self, namespace: str, payload: Payload, *, metadata: Metadata | None = None
    ) -> WriteResponse:
        """Change the fields given; null clears where allowed; an unknown session gives `success: false`."""
        request = parse(UpdateRequest, payload)
        result = await self.records.update(
            namespace, request.session_id, request.changes(), metadata=metadata
        )
        return _written(result)

    async def delete(
        self, namespace: str, payload: Payload, *, metadata: Metadata | None = None
    ) -> DeleteResponse:
        """Hide the record from every read. Succeeds when there was none too: the session is gone
        either way (Makaio's answer)."""
        request = parse(DeleteRequest, payload)
        await self.records.delete(namespace, request.session_id, metadata=metadata)
        return DeleteResponse(success=True)

    # -- reads ----------------------------------------------------------------------------------
    async def get(self, namespace: str, payload: Payload) -> GetResponse:
        request = parse(GetRequest, payload)
        return GetResponse(session=_record(await self.records.get(namespace, request.session_id)))

    async def get_by_adapter_session_id(self, namespace: str, payload: Payload) -> GetResponse:
        request = parse(GetByAdapterSessionIdRequest, payload)
        found = await self.records.get_by_adapter_session_id(namespace, request.adapter_session_id)
        return GetResponse(session=_record(found))

    async def get_children(self, namespace: str, payload: Payload) -> GetChildrenResponse:
        request = parse(GetChildrenRequest, payload)
        found = await self.records.children(namespace, request.session_id)
        return GetChildrenResponse(children=[wire(ChildSession, child) for child in found])

    async def get_status_counts(self, namespace: str, payload: Payload | None = None) -> StatusCounts:
        parse(GetStatusCountsRequest, payload if payload is not None else {})
        return wire(StatusCounts, await self.records.status_counts(namespace))

    async def list(self, namespace: str, payload: Payload | None = None) -> ListResponse:
        request = parse(ListRequest, payload if payload is not None else {})
        query = ListQuery(
            status=request.status,
            execution_target_id=request.execution_target_id,
            include_preview=bool(request.include_preview),
            limit=request.limit if request.limit is not None else DEFAULT_LIST_LIMIT,
            offset=request.offset if request.offset is not None else 0,
        )
        page = await self.records.list(namespace, query)
        return ListResponse(
            sessions=[_listed(ListedSession, found) for found in page.sessions], total=page.total
        )

    async def search(self, namespace: str, payload: Payload) -> SearchResponse:
        request = parse(SearchRequest, payload)
        query = SearchQuery(
            query=request.query,
            status=request.status,
            is_imported=request.is_imported,
            limit=request.limit if request.limit is not None else DEFAULT_SEARCH_LIMIT,
        )
        page = await self.records.search(namespace, query)
        return SearchResponse(
            sessions=[_listed(SearchedSession, found) for found in page.sessions], total=page.total
        )


Subject = Callable[..., Awaitable[Wire]]
"""`(subjects, namespace, payload[, metadata=])`: one subject's answer."""

SUBJECTS: dict[str, Subject] = {
    "set": RecordSubjects.set,
    "update": RecordSubjects.update,
    "get": RecordSubjects.get,
    "getByAdapterSessionId": RecordSubjects.get_by_adapter_session_id,
    "delete": RecordSubjects.delete,
    "getChildren": RecordSubjects.get_children,
    "getStatusCounts": RecordSubjects.get_status_counts,
    "list": RecordSubjects.list,
    "search": RecordSubjects.search,
}
"""Subject name (in the `storage:session` namespace) -> the function that answers it."""
