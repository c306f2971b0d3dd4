"""Reading envelopes: download one (never its thread items or graph elements) and list a session's."""

from __future__ import annotations

from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from session_engine.engine.clock import as_utc
from session_engine.engine.objects.answers import ListedObject, ObjectPage, StoredObject
from session_engine.engine.objects.envelopes.tables import object_messages as om
from session_engine.engine.objects.envelopes.tables import session_objects as so
from session_engine.engine.objects.errors import ObjectNotFound
from session_engine.engine.objects.limits import MAX_PAGE, page_size
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.state import find_object

_messages = sa.select(om.c.message).where(om.c.object_id == sa.bindparam("oid")).order_by(om.c.ordinal)


@cache
def _page(postgres: bool, paged: bool) -> sa.Select[Any]:
    """A page of a session's objects: built once per shape, its values bound (building and keying a
    statement on each call cost more than running it)."""
    alias = so.c.alias.collate("C") if postgres else so.c.alias
    query = sa.select(so.c.alias, so.c.type, so.c.updated_at).where(
        so.c.namespace == sa.bindparam("ns"), so.c.session_id == sa.bindparam("sid")
    )
    if paged:
        query = query.where(alias > sa.bindparam("after"))
    return query.order_by(alias).limit(sa.bindparam("size", type_=sa.Integer))


def download(connection: Connection, namespace: str, stream: str, alias: str) -> StoredObject:
    """The full envelope; a `messages` value is reassembled from its rows in ordinal order."""
    found = find_object(connection.execute, namespace, stream, alias)
    scope, session_id = owner_of(namespace, stream)
    if found is None:
        raise ObjectNotFound(f"no session object {alias!r} in session {session_id!r}")
    value = dict(found.value)
    if found.type == "messages":
        value["messages"] = connection.execute(_messages, {"oid": found.object_id}).scalars().all()
    return StoredObject(
        scope=scope, session_id=session_id, alias=alias, updated_at=as_utc(found.updated_at), value=value
    )


def list_objects(
    connection: Connection,
    namespace: str,
    session_id: str,
    *,
    after: str | None = None,
    limit: int | None = None,
) -> ObjectPage:
    """A page in alias order; its `cursor` (the last alias) pages on."""
    size = page_size(limit, MAX_PAGE)
    query = _page(connection.dialect.name == "postgresql", after is not None)
    params = {"ns": namespace, "sid": session_id, "after": after, "size": size + 1}
    rows = connection.execute(query, params).all()
    more = len(rows) > size
    rows = rows[:size]
    return ObjectPage(
        objects=[ListedObject(alias=r.alias, type=r.type, updated_at=as_utc(r.updated_at)) for r in rows],
        cursor=rows[-1].alias if more else None,
    )
