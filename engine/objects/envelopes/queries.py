"""Reading envelopes: download one (never its thread items or graph elements) and list a session's."""

from __future__ import annotations

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


def download(connection: Connection, namespace: str, stream: str, alias: str) -> StoredObject:
    """The full envelope; a `messages` value is reassembled from its rows in ordinal order."""
    found = find_object(connection.execute, namespace, stream, alias)
    scope, session_id = owner_of(namespace, stream)
    if found is None:
        raise ObjectNotFound(f"no session object {alias!r} in session {session_id!r}")
    value = dict(found.value)
    if found.type == "messages":
        rows = connection.execute(
            sa.select(om.c.message).where(om.c.object_id == found.object_id).order_by(om.c.ordinal)
        )
        value["messages"] = [row.message for row in rows]
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
    query = sa.select(so.c.alias, so.c.type, so.c.updated_at).where(
        so.c.namespace == namespace, so.c.session_id == session_id
    )
    alias = so.c.alias.collate("C") if connection.dialect.name == "postgresql" else so.c.alias
    if after is not None:
        query = query.where(alias > after)
    rows = connection.execute(query.order_by(alias).limit(size + 1)).all()
    more = len(rows) > size
    rows = rows[:size]
    return ObjectPage(
        objects=[ListedObject(alias=r.alias, type=r.type, updated_at=as_utc(r.updated_at)) for r in rows],
        cursor=rows[-1].alias if more else None,
    )
