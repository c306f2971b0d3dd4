"""The search read model's calls: message counts per session, sessions matching a query, and
matching messages (mixed into `ObjectsService`; the records domain searches through `queries`)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from session_engine.engine.objects.answers import MessageHit
from session_engine.engine.objects.calls import ObjectCalls
from session_engine.engine.objects.search import queries


class SearchService(ObjectCalls):
    async def message_stats(
        self, namespace: str, session_ids: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        return await self._engine.read(lambda c: queries.message_stats(c, namespace, session_ids))

    async def matching_sessions(self, namespace: str, query: str, *, limit: int = 100) -> list[str]:
        """Session ids (sorted) whose messages match a search query."""

        def run(connection: Connection) -> list[str]:
            selectable = queries.matching_sessions(connection, namespace, query).subquery()
            rows = connection.execute(
                selectable.select().order_by(selectable.c.session_id).limit(max(1, min(limit, 1000)))
            )
            return [row[0] for row in rows]

        return await self._engine.read(run)

    async def search_messages(
        self, namespace: str, query: str, *, session_id: str | None = None, limit: int = 50
    ) -> list[MessageHit]:
        return await self._engine.read(
            lambda c: queries.search_messages(c, namespace, query, session_id=session_id, limit=limit)
        )
