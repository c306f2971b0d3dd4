"""The graphs' calls: mutate, get, list, neighbors and traversal queries (mixed into
`ObjectsService`)."""

from __future__ import annotations

from typing import Any, Literal

from session_engine.engine.log.records import Metadata
from session_engine.engine.objects.answers import (
    ElementPage,
    GraphCount,
    GraphMutation,
    GraphResults,
    Neighborhood,
)
from session_engine.engine.objects.calls import Instant, ObjectCalls, findable, instant
from session_engine.engine.objects.errors import UnreadableCursor
from session_engine.engine.objects.graphs import queries, traversal
from session_engine.engine.objects.graphs.commands import ApplyGraphMutations
from session_engine.engine.objects.graphs.errors import (
    InvalidGraphQuery,
    UnreadableElementId,
    UnreadableGraphIds,
)
from session_engine.engine.objects.graphs.operations import Element, parse_operations
from session_engine.engine.objects.models import check_document, has_nul


class GraphsService(ObjectCalls):
    async def apply_graph_mutations(
        self,
        namespace: str,
        session_id: str,
        alias: str,
        operations: Any,
        *,
        user_id: str | None = None,
        metadata: Metadata | None = None,
    ) -> GraphMutation:
        """All or nothing; answers each affected element's change."""
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
        return await self._run(command, GraphMutation)

    async def get_graph_element(
        self, namespace: str, session_id: str, alias: str, element_id: str
    ) -> Element:
        stream = self._address(namespace, session_id, alias)
        findable(element_id, lambda _: UnreadableElementId(element_id), "element_id")
        return await self._engine.lookup(
            lambda c: queries.get_element(c, namespace, stream, alias, element_id)
        )

    async def get_graph_elements(
        self, namespace: str, session_id: str, alias: str, element_ids: list[str]
    ) -> list[Element]:
        """The elements in the order asked; missing ids are left out."""
        stream = self._address(namespace, session_id, alias)
        if has_nul(element_ids):
            raise UnreadableGraphIds("element ids must not contain NUL (U+0000) characters")
        return await self._engine.read(
            lambda c: queries.get_elements(c, namespace, stream, alias, element_ids)
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
        limit: int | None = None,
    ) -> ElementPage:
        stream = self._address(namespace, session_id, alias)
        findable(cursor, UnreadableCursor, "cursor")
        since = instant(updated_since, "updated_since")
        return await self._engine.read(
            lambda c: queries.list_elements(
                c,
                namespace,
                stream,
                alias,
                type=type,
                ascending=ascending,
                cursor=cursor,
                updated_since=since,
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
    ) -> Neighborhood:
        stream = self._address(namespace, session_id, alias)
        findable(cursor, UnreadableCursor, "cursor")
        if has_nul([from_ids, label, neighbor_label]):
            raise UnreadableGraphIds("ids and labels must not contain NUL (U+0000) characters")
        return await self._engine.read(
            lambda c: queries.neighbors(
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

    async def query_graph(
        self, namespace: str, session_id: str, alias: str, query: Any
    ) -> GraphCount | GraphResults:
        stream = self._address(namespace, session_id, alias)
        check_document(query, InvalidGraphQuery, "query")
        return await self._engine.read(lambda c: traversal.run_query(c, namespace, stream, alias, query))
