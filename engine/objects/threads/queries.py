"""Reading thread items: get one, and pages by log position (ties in created_at never skip items)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.objects import cursors
from session_engine.engine.objects.answers import ItemPage, ThreadItem
from session_engine.engine.objects.errors import ObjectNotFound
from session_engine.engine.objects.limits import DEFAULT_THREAD_PAGE, page_size
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.state import ObjectRow, find_object
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


def _thread(connection: Connection, namespace: str, session_id: str, alias: str) -> ObjectRow:
    thread = find_object(connection.execute, namespace, session_id, alias)
    if thread is None or thread.type != "thread":
        raise InvalidThreadEnvelope(f"{alias!r} is not a thread in this session")
    return thread


def _items(thread: ObjectRow, rows: Sequence[Any]) -> list[ThreadItem]:
    """The items rows of `_COLUMNS` hold. Unpacked by position, the owner worked out once: looking
    each row's attributes up by name was most of reading a page."""
    scope, session_id = owner_of(thread.namespace, thread.session_id)
    alias = thread.alias
    return [
        ThreadItem(
            item_id, scope, session_id, alias, as_utc(created_at), user_id, content, parent_id, metadata
        )
        for _, item_id, created_at, user_id, content, parent_id, metadata in rows
    ]


def get_item(connection: Connection, namespace: str, session_id: str, alias: str, item_id: str) -> ThreadItem:
    thread = _thread(connection, namespace, session_id, alias)
    row = connection.execute(
        sa.select(*_COLUMNS).where(ti.c.object_id == thread.object_id, ti.c.item_id == item_id)
    ).first()
    if row is None:
        raise ObjectNotFound(f"no thread item {item_id!r} in {alias!r}")
    [item] = _items(thread, [row])
    return item


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
) -> ItemPage:
    """Newest first by default; the page's `cursor` is None on the last page."""
    thread = _thread(connection, namespace, session_id, alias)
    size = page_size(limit, DEFAULT_THREAD_PAGE)
    after = cursors.decode(cursor, "t", ascending)
    params = {"oid": thread.object_id, "after": after, "size": size + 1}
    query = _page(ascending, after is not None)
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
    return _listed(thread, connection.execute(query, params).all(), size, ascending)


@cache
def _page(ascending: bool, paged: bool) -> sa.Select[Any]:
    """A page of a thread, its values bound, built once per shape (building and keying a statement
    on each call cost more than running it); a time bound adds its conditions to it."""
    query = sa.select(*_COLUMNS).where(ti.c.object_id == sa.bindparam("oid"))
    if paged:
        after = sa.bindparam("after", type_=ti.c.seq.type)
        query = query.where(ti.c.seq > after if ascending else ti.c.seq < after)
    query = query.order_by(ti.c.seq if ascending else ti.c.seq.desc())
    return query.limit(sa.bindparam("size", type_=sa.Integer))


def _listed(thread: ObjectRow, rows: Sequence[Any], size: int, ascending: bool) -> ItemPage:
    """A page of `size` items out of up to one more row: the extra one says another page follows."""
    more = len(rows) > size
    rows = rows[:size]
    return ItemPage(
        items=_items(thread, rows),
        cursor=cursors.encode("t", ascending, rows[-1].seq) if more else None,
    )
