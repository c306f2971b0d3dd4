"""The records service: session records with lineage, status counts, previews and search,
`engine.records`.

Writes go through the command path, one event per change; reads are the pure functions of
`queries` on a read connection. Calls take and answer the domain's types: a record is the stored
JSON document (`commands.Record`), the rest are the dataclasses of `commands` and `queries`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

from session_engine.engine.ids import check_id
from session_engine.engine.log.records import Metadata
from session_engine.engine.records import queries
from session_engine.engine.records.commands import DeleteRecord, Record, SetRecord, UpdateRecord, WriteResult
from session_engine.engine.records.queries import Child, ListQuery, Page, SearchQuery, StatusCounts

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

T = TypeVar("T")


class RecordsService:
    """Session records with lineage, status counts, previews and search (namespace = tenant)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def _read(self, namespace: str, query: Callable[[Connection], T]) -> T:
        check_id("namespace", namespace)
        return await self._engine.read(query)

    async def _lookup(self, namespace: str, query: Callable[[Connection], T]) -> T:
        """A point read by index (see `Engine.lookup`)."""
        check_id("namespace", namespace)
        return await self._engine.lookup(query)

    async def _write(self, command: Any) -> Any:
        return (await self._engine.execute(command)).result

    # -- writes ---------------------------------------------------------------------------------
    async def set(
        self,
        namespace: str,
        session_id: str,
        record: Record,
        *,
        if_absent: bool = False,
        metadata: Metadata | None = None,
    ) -> WriteResult:
        """Store a whole record (`if_absent`: only when none exists, else `success` is false).
        The record's `sessionId` must be `session_id`."""
        command = SetRecord(
            namespace=namespace,
            stream=session_id,
            record=record,
            if_absent=if_absent,
            metadata=metadata or Metadata(),
        )
        result: WriteResult = await self._write(command)
        return result

    async def update(
        self, namespace: str, session_id: str, changes: Record, *, metadata: Metadata | None = None
    ) -> WriteResult:
        """Change the fields given (None clears); an unknown session gives `success` false."""
        command = UpdateRecord(
            namespace=namespace, stream=session_id, changes=changes, metadata=metadata or Metadata()
        )
        result: WriteResult = await self._write(command)
        return result

    async def delete(self, namespace: str, session_id: str, *, metadata: Metadata | None = None) -> bool:
        """Hide the record from every read (its events stay). False when there was none: nothing
        is recorded then."""
        command = DeleteRecord(namespace=namespace, stream=session_id, metadata=metadata or Metadata())
        deleted: bool = await self._write(command)
        return deleted

    # -- reads ----------------------------------------------------------------------------------
    async def get(self, namespace: str, session_id: str) -> Record | None:
        return await self._lookup(namespace, lambda c: queries.get_record(c, namespace, session_id))

    async def get_by_adapter_session_id(self, namespace: str, adapter_session_id: str) -> Record | None:
        return await self._lookup(
            namespace, lambda c: queries.get_by_adapter_session_id(c, namespace, adapter_session_id)
        )

    async def children(self, namespace: str, session_id: str) -> list[Child]:
        return await self._read(namespace, lambda c: queries.children(c, namespace, session_id))

    async def status_counts(self, namespace: str) -> StatusCounts:
        return await self._lookup(namespace, lambda c: queries.status_counts(c, namespace))

    async def list(self, namespace: str, query: ListQuery | None = None) -> Page:
        request = query or ListQuery()
        return await self._read(namespace, lambda c: queries.list_sessions(c, namespace, request))

    async def search(self, namespace: str, query: SearchQuery) -> Page:
        return await self._read(namespace, lambda c: queries.search(c, namespace, query))
