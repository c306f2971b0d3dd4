"""The threads' calls: post an item, get one, list a page (mixed into `ObjectsService`)."""

from __future__ import annotations

from typing import Any

from session_engine.engine.log.records import Metadata
from session_engine.engine.objects.answers import ItemPage, ThreadItem
from session_engine.engine.objects.calls import Instant, ObjectCalls, findable, instant
from session_engine.engine.objects.errors import UnreadableCursor, UnreadableId
from session_engine.engine.objects.threads import queries
from session_engine.engine.objects.threads.commands import PostThreadItem
from session_engine.engine.objects.threads.decide import check_item


class ThreadsService(ObjectCalls):
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
    ) -> ThreadItem:
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
        return await self._run(command, ThreadItem)

    async def get_thread_item(self, namespace: str, session_id: str, alias: str, item_id: str) -> ThreadItem:
        stream = self._address(namespace, session_id, alias)
        findable(item_id, UnreadableId, "item_id")
        return await self._engine.lookup(lambda c: queries.get_item(c, namespace, stream, alias, item_id))

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
    ) -> ItemPage:
        stream = self._address(namespace, session_id, alias)
        findable(cursor, UnreadableCursor, "cursor")
        since, before = instant(created_since, "created_since"), instant(created_before, "created_before")
        return await self._engine.read(
            lambda c: queries.list_items(
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
