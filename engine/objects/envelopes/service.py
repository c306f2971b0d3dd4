"""The envelopes' calls: upload, download, list, delete, append messages (mixed into
`ObjectsService`). Values are parsed here, off the writer thread; the handlers get models."""

from __future__ import annotations

from typing import Any

from session_engine.engine.log.records import Metadata
from session_engine.engine.objects.answers import AppendSummary, ObjectPage, ObjectSummary, StoredObject
from session_engine.engine.objects.calls import ObjectCalls, findable
from session_engine.engine.objects.envelopes import queries
from session_engine.engine.objects.envelopes.commands import AppendMessages, DeleteObject, UploadObject
from session_engine.engine.objects.errors import UnreadableCursor
from session_engine.engine.objects.models import parse_messages, parse_value


class EnvelopesService(ObjectCalls):
    async def upload(
        self, namespace: str, session_id: str, alias: str, value: Any, *, metadata: Metadata | None = None
    ) -> ObjectSummary:
        """Create or replace; returns what was written, whose and when."""
        stream = self._address(namespace, session_id, alias)
        parsed = parse_value(value)
        return await self._run(
            UploadObject(
                namespace=namespace,
                stream=stream,
                alias=alias,
                value=parsed,
                metadata=metadata or Metadata(),
            ),
            ObjectSummary,
        )

    async def download(self, namespace: str, session_id: str, alias: str) -> StoredObject:
        stream = self._address(namespace, session_id, alias)
        return await self._engine.lookup(lambda c: queries.download(c, namespace, stream, alias))

    async def list_objects(
        self, namespace: str, session_id: str, *, after: str | None = None, limit: int | None = None
    ) -> ObjectPage:
        stream = self._address(namespace, session_id)
        findable(after, UnreadableCursor, "after")
        return await self._engine.read(
            lambda c: queries.list_objects(c, namespace, stream, after=after, limit=limit)
        )

    async def delete(
        self, namespace: str, session_id: str, alias: str, *, metadata: Metadata | None = None
    ) -> None:
        stream = self._address(namespace, session_id, alias)
        await self._run(
            DeleteObject(namespace=namespace, stream=stream, alias=alias, metadata=metadata or Metadata()),
            type(None),
        )

    async def append_messages(
        self, namespace: str, session_id: str, alias: str, messages: Any, *, metadata: Metadata | None = None
    ) -> AppendSummary:
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
        return await self._run(command, AppendSummary)
