"""`ObjectsService`: the public, async calls of typed session objects (BlobHub's commands).

Writes validate their input here (off the writer thread) and go through `engine.execute`;
reads are pure query functions run by `engine.read`. `engine.objects` serves the namespace's own
objects; `engine.objects.scoped(scope)` the same calls inside a scope (`engine.objects.scopes`):
a session's objects there are a stream of their own, so every call below works on that stream.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, cast

from sqlalchemy.engine import Connection

from session_engine.engine.commands import Command
from session_engine.engine.log.records import Metadata
from session_engine.engine.objects import envelope_reads, graph_reads, thread_reads, traversal
from session_engine.engine.objects import messages as search
from session_engine.engine.objects.decide_envelopes import AppendMessages, DeleteObject, UploadObject
from session_engine.engine.objects.decide_graph import ApplyGraphMutations
from session_engine.engine.objects.decide_threads import PostThreadItem, check_item
from session_engine.engine.objects.errors import (
    ElementNotFound,
    InvalidCursor,
    InvalidGraphQuery,
    ObjectNotFound,
)
from session_engine.engine.objects.graph_ops import parse_operations
from session_engine.engine.objects.models import (
    check_document,
    check_identifier,
    has_nul,
    parse_messages,
    parse_value,
)
from session_engine.engine.objects.scopes import stream_for

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

Instant = datetime | str | None


def _instant(value: Instant, name: str) -> datetime | None:
    """An instant filter in UTC (naive means UTC). One outside datetime's range in UTC (year 1 at
    +05:00, say) is refused here, not left to overflow inside the query."""
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise InvalidCursor(f"{name} must be an ISO 8601 instant") from None


def _findable(value: str | None, refuse: Callable[[str], Exception], what: str) -> None:
    """A read's string argument must be one the database can compare: PostgreSQL text cannot hold
    NUL, so such a query would fail in the driver (and find nothing on SQLite)."""
    if value is not None and "\x00" in value:
        raise refuse(f"{what} must not contain NUL (U+0000) characters")


class ObjectsService:
    def __init__(self, engine: Engine, scope: str | None = None) -> None:
        self._engine = engine
        self.scope = scope

    def scoped(self, scope: str | None) -> ObjectsService:
        """The same calls inside `scope` (None, or the namespace's name: the namespace's own objects)."""
        return self if scope == self.scope else ObjectsService(self._engine, scope)

    def _address(self, namespace: str, session_id: str, alias: str | None = None) -> str:
        """The checked address's log stream: the session id, or its scoped stream."""
        check_identifier("namespace", namespace)
        check_identifier("session_id", session_id)
        if alias is not None:
            check_identifier("alias", alias)
        return stream_for(namespace, self.scope, session_id)

    async def _run(self, command: Command) -> dict[str, Any]:
        outcome = await self._engine.execute(command)
        return cast(dict[str, Any], outcome.result)

    # -- envelopes ---------------------------------------------------------------------------
    async def upload(
        self, namespace: str, session_id: str, alias: str, value: Any, *, metadata: Metadata | None = None
    ) -> dict[str, Any]:
        """Create or replace; returns `{revision_id, session_id, alias, type, updated_at}`."""
        stream = self._address(namespace, session_id, alias)
        parsed = parse_value(value)
        return await self._run(
            UploadObject(
                namespace=namespace,
                stream=stream,
                alias=alias,
                value=parsed,
                metadata=metadata or Metadata(),
            )
        )

    async def download(self, namespace: str, session_id: str, alias: str) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        return await self._engine.lookup(lambda c: envelope_reads.download(c, namespace, stream, alias))

    async def list_objects(
        self, namespace: str, session_id: str, *, after: str | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id)
        _findable(after, InvalidCursor, "after")
        return await self._engine.read(
            lambda c: envelope_reads.list_objects(c, namespace, stream, after=after, limit=limit)
        )

    async def delete(
        self, namespace: str, session_id: str, alias: str, *, metadata: Metadata | None = None
    ) -> None:
        stream = self._address(namespace, session_id, alias)
        await self._run(
            DeleteObject(namespace=namespace, stream=stream, alias=alias, metadata=metadata or Metadata())
        )

    async def append_messages(
        self, namespace: str, session_id: str, alias: str, messages: Any, *, metadata: Metadata | None = None
    ) -> dict[str, Any]:
        """Append to a `messages` object; returns the summary plus `first_ordinal` and `count`."""
        stream = self._address(namespace, session_id, alias)
        parsed = parse_messages(messages)
        command = AppendMessages(
            namespace=namespace,
            stream=stream,
            alias=alias,
            messages=parsed,
            metadata=metadata or Metadata(),
        )
        return await self._run(command)

    # -- threads -----------------------------------------------------------------------------
    async def post_thread_item(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        content: Any,
        *,
        parent_id: str | None = None,
        item_metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        metadata: Metadata | None = None,
    ) -> dict[str, Any]:
        """Returns the item. `user_id` defaults to `metadata.actor`."""
        stream = self._address(namespace, session_id, alias)
        metadata = metadata or Metadata()
        user_id = user_id if user_id is not None else metadata.actor
        blocks = check_item(content, parent_id, item_metadata, user_id)
        command = PostThreadItem(
            namespace=namespace,
            stream=stream,
            alias=alias,
            content=blocks,
            parent_id=parent_id,
            item_metadata=item_metadata,
            user_id=user_id,
            metadata=metadata,
        )
        return await self._run(command)

    async def get_thread_item(
        self, namespace: str, session_id: str, alias: str, item_id: str
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        _findable(item_id, ObjectNotFound, "item_id")
        return await self._engine.lookup(
            lambda c: thread_reads.get_item(c, namespace, stream, alias, item_id)
        )

    async def list_thread_items(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        *,
        ascending: bool = False,
        created_since: Instant = None,
        created_before: Instant = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        _findable(cursor, InvalidCursor, "cursor")
        since, before = _instant(created_since, "created_since"), _instant(created_before, "created_before")
        return await self._engine.read(
            lambda c: thread_reads.list_items(
                c,
                namespace,
                stream,
                alias,
                ascending=ascending,
                created_since=since,
                created_before=before,
                limit=limit,
                cursor=cursor,
            )
        )

    # -- graphs ------------------------------------------------------------------------------
    async def apply_graph_mutations(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        operations: Any,
        *,
        user_id: str | None = None,
        metadata: Metadata | None = None,
    ) -> dict[str, Any]:
        """All or nothing; returns `{elements: [{element_id, type, change, rev}]}`."""
        stream = self._address(namespace, session_id, alias)
        metadata = metadata or Metadata()
        command = ApplyGraphMutations(
            namespace=namespace,
            stream=stream,
            alias=alias,
            operations=parse_operations(operations),
            user_id=user_id if user_id is not None else metadata.actor,
            metadata=metadata,
        )
        return await self._run(command)

    async def get_graph_element(
        self, namespace: str, session_id: str, alias: str, element_id: str
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        _findable(element_id, lambda _: ElementNotFound(element_id), "element_id")
        return await self._engine.lookup(
            lambda c: graph_reads.get_element(c, namespace, stream, alias, element_id)
        )

    async def get_graph_elements(
        self, namespace: str, session_id: str, alias: str, element_ids: list[str]
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        if has_nul(element_ids):
            raise InvalidGraphQuery("element ids must not contain NUL (U+0000) characters")
        return await self._engine.read(
            lambda c: graph_reads.get_elements(c, namespace, stream, alias, element_ids)
        )

    async def list_graph_elements(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        *,
        type: Literal["vertex", "edge"] | None = None,
        ascending: bool = False,
        cursor: str | None = None,
        updated_since: Instant = None,
        ids_only: bool = False,
        limit: int | None = None,
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        _findable(cursor, InvalidCursor, "cursor")
        since = _instant(updated_since, "updated_since")
        return await self._engine.read(
            lambda c: graph_reads.list_elements(
                c,
                namespace,
                stream,
                alias,
                type=type,
                ascending=ascending,
                cursor=cursor,
                updated_since=since,
                ids_only=ids_only,
                limit=limit,
            )
        )

    async def graph_neighbors(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        from_ids: list[str],
        *,
        direction: Literal["out", "in", "both"] = "both",
        label: str | None = None,
        neighbor_label: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        _findable(cursor, InvalidCursor, "cursor")
        if has_nul([from_ids, label, neighbor_label]):
            raise InvalidGraphQuery("ids and labels must not contain NUL (U+0000) characters")
        return await self._engine.read(
            lambda c: graph_reads.neighbors(
                c,
                namespace,
                stream,
                alias,
                from_ids,
                direction=direction,
                label=label,
                neighbor_label=neighbor_label,
                cursor=cursor,
                limit=limit,
            )
        )

    async def query_graph(self, namespace: str, session_id: str, alias: str, query: Any) -> dict[str, Any]:
        stream = self._address(namespace, session_id, alias)
        check_document(query, InvalidGraphQuery, "query")
        return await self._engine.read(lambda c: traversal.run_query(c, namespace, stream, alias, query))

    # -- the messages read model ---------------------------------------------------------------
    async def message_stats(
        self, namespace: str, session_ids: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        return await self._engine.read(lambda c: search.message_stats(c, namespace, session_ids))

    async def matching_sessions(self, namespace: str, query: str, *, limit: int = 100) -> list[str]:
        """Session ids (sorted) whose messages match a search query."""

        def run(connection: Connection) -> list[str]:
            selectable = search.matching_sessions(connection, namespace, query).subquery()
            rows = connection.execute(
                selectable.select().order_by(selectable.c.session_id).limit(max(1, min(limit, 1000)))
            )
            return [row[0] for row in rows]

        return await self._engine.read(run)

    async def search_messages(
        self, namespace: str, query: str, *, session_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        return await self._engine.read(
            lambda c: search.search_messages(c, namespace, query, session_id=session_id, limit=limit)
        )
