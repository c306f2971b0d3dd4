"""Reading thread items: get one, and pages by log position (ties in created_at never skip items)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.objects import cursors
from session_engine.engine.objects.errors import ObjectNotFound
from session_engine.engine.objects.limits import DEFAULT_THREAD_PAGE, page_size
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.state import ObjectRow, find_object, iso
from session_engine.engine.objects.threads.errors import InvalidThreadEnvelope
from session_engine.engine.objects.threads.tables import thread_items as ti

_COLUMNS = (
    ti.c.seq,
    ti.c.item_id,
    ti.c.created_at,
    ti.c.user_id,
    ti.c.content,
    ti.c.parent_id,
    ti.c.item_metadata,
)


def item_document(
    namespace: str,
    stream: str,
    alias: str,
    *,
    item_id: str,
    created_at: datetime,
    user_id: str | None,
    content: list[dict[str, Any]],
    parent_id: str | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """The BlobHub item of a thread in `stream`; `parent_id` and `metadata` appear only when set."""
    revision_id, session_id = owner_of(namespace, stream)
    document: dict[str, Any] = {
        "id": item_id,
        "session_id": session_id,
        "revision_id": revision_id,
        "alias": alias,
        "created_at": iso(created_at),
        "user_id": user_id,
        "content": content,
    }
    if parent_id is not None:
        document["parent_id"] = parent_id
    if metadata is not None:
        document["metadata"] = metadata
    return document


def _thread(connection: Connection, namespace: str, session_id: str, alias: str) -> ObjectRow:
    thread = find_object(connection.execute, namespace, session_id, alias)
    if thread is None or thread.type != "thread":
        raise InvalidThreadEnvelope(f"{alias!r} is not a thread in this session")
    return thread


def _document(thread: ObjectRow, row: Any) -> dict[str, Any]:
    return item_document(
        thread.namespace,
        thread.session_id,
        thread.alias,
        item_id=row.item_id,
        created_at=as_utc(row.created_at),
        user_id=row.user_id,
        content=row.content,
        parent_id=row.parent_id,
        metadata=row.item_metadata,
    )


def get_item(
    connection: Connection, namespace: str, session_id: str, alias: str, item_id: str
) -> dict[str, Any]:
    thread = _thread(connection, namespace, session_id, alias)
    row = connection.execute(
        sa.select(*_COLUMNS).where(ti.c.object_id == thread.object_id, ti.c.item_id == item_id)
    ).first()
    if row is None:
        raise ObjectNotFound(f"no thread item {item_id!r} in {alias!r}")
    return _document(thread, row)


def list_items(
    connection: Connection,
    namespace: str,
    session_id: str,
    alias: str,
    *,
    ascending: bool = False,
    created_since: datetime | None = None,
    created_before: datetime | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """`{items, cursor}`: newest first by default; `cursor` is null on the last page."""
    thread = _thread(connection, namespace, session_id, alias)
    size = page_size(limit, DEFAULT_THREAD_PAGE)
    after = cursors.decode(cursor, "t", ascending)
    query = sa.select(*_COLUMNS).where(ti.c.object_id == thread.object_id)
    if after is not None:
        query = query.where(ti.c.seq > after if ascending else ti.c.seq < after)
    scope = ti.c.object_id == thread.object_id
    # created_at never decreases along the log (the committer guarantees it), so a time bound is
    # also a seq bound: find it with one probe of the (object_id, created_at, seq) index, and page
    # on the primary key instead of scanning every item before the instant.
    if created_since is not None:
        since = as_utc(created_since)
        first = sa.select(ti.c.seq).where(scope, ti.c.created_at > since)
        first = first.order_by(ti.c.created_at, ti.c.seq).limit(1)
        query = query.where(ti.c.created_at > since, ti.c.seq >= first.scalar_subquery())
    if created_before is not None:
        before = as_utc(created_before)
        last = sa.select(ti.c.seq).where(scope, ti.c.created_at < before)
        last = last.order_by(ti.c.created_at.desc(), ti.c.seq.desc()).limit(1)
        query = query.where(ti.c.created_at < before, ti.c.seq <= last.scalar_subquery())
    query = query.order_by(ti.c.seq if ascending else ti.c.seq.desc()).limit(size + 1)
    rows = connection.execute(query).all()
    more = len(rows) > size
    rows = rows[:size]
    return {
        "items": [_document(thread, row) for row in rows],
        "cursor": cursors.encode("t", ascending, rows[-1].seq) if more else None,
    }
