"""The envelopes' decisions: upload (create or replace), delete (cascading), append messages;
one handler per command (`commands.py`), in the table `HANDLERS`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from session_engine.engine.commands import Command, Decision
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.answers import AppendSummary, ObjectSummary
from session_engine.engine.objects.envelopes.commands import AppendMessages, DeleteObject, UploadObject
from session_engine.engine.objects.envelopes.errors import InvalidMessagesEnvelope, SessionObjectTooLarge
from session_engine.engine.objects.envelopes.events import (
    MessagesAppended,
    ObjectDeleted,
    ObjectUploaded,
    PreviousObject,
)
from session_engine.engine.objects.envelopes.tables import object_messages
from session_engine.engine.objects.errors import ObjectNotFound
from session_engine.engine.objects.limits import MAX_MESSAGES, ROW_STRIDE
from session_engine.engine.objects.models import dump
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.state import forget, lookup
from session_engine.engine.unit_of_work import UnitOfWork

MAX_ORDINALS = 1_000_000
"""Messages one `messages` object may hold in total (uploads plus appends)."""


def _summary(command: Command, alias: str, kind: str) -> Callable[[list[RecordedEvent]], ObjectSummary]:
    scope, session_id = owner_of(command.namespace, command.stream)

    def then(recorded: list[RecordedEvent]) -> ObjectSummary:
        return ObjectSummary(
            scope=scope, session_id=session_id, alias=alias, type=kind, updated_at=recorded[0].recorded_at
        )

    return then


def upload(command: UploadObject, state: UnitOfWork) -> Decision[ObjectSummary]:
    existing = lookup(state, command.namespace, command.stream, command.alias)
    kind = command.value.type
    previous = PreviousObject(object_id=existing.object_id, type=existing.type) if existing else None
    keep = existing is not None and existing.type == kind and kind in ("thread", "graph")
    forget(state, command.namespace, command.stream, command.alias)  # later commands read it anew
    event = ObjectUploaded(
        alias=command.alias, value=dump(command.value), previous=previous, keep_children=keep
    )
    return Decision(events=[event], then=_summary(command, command.alias, kind))


def delete(command: DeleteObject, state: UnitOfWork) -> Decision[None]:
    existing = lookup(state, command.namespace, command.stream, command.alias)
    if existing is None:
        session_id = owner_of(command.namespace, command.stream)[1]
        raise ObjectNotFound(f"no session object {command.alias!r} in session {session_id!r}")
    forget(state, command.namespace, command.stream, command.alias)
    return Decision(
        events=[ObjectDeleted(alias=command.alias, object_id=existing.object_id, type=existing.type)]
    )


def append(command: AppendMessages, state: UnitOfWork) -> Decision[AppendSummary]:
    existing = lookup(state, command.namespace, command.stream, command.alias)
    if existing is None or existing.type != "messages":
        raise InvalidMessagesEnvelope(f"{command.alias!r} is not a messages object in this session")
    if len(command.messages) > min(MAX_MESSAGES, ROW_STRIDE - 1):
        raise SessionObjectTooLarge(f"at most {MAX_MESSAGES} messages per append")
    last = state.read(
        sa.select(sa.func.max(object_messages.c.ordinal)).where(
            object_messages.c.object_id == existing.object_id
        )
    ).scalar()
    first = 0 if last is None else int(last) + 1
    if first + len(command.messages) > MAX_ORDINALS:
        raise SessionObjectTooLarge(f"a messages object holds at most {MAX_ORDINALS} messages")
    event = MessagesAppended(
        alias=command.alias,
        object_id=existing.object_id,
        first_ordinal=first,
        messages=[dump(m) for m in command.messages],
    )
    scope, session_id = owner_of(command.namespace, command.stream)

    def then(recorded: list[RecordedEvent]) -> AppendSummary:
        return AppendSummary(
            scope=scope,
            session_id=session_id,
            alias=command.alias,
            type="messages",
            updated_at=recorded[0].recorded_at,
            first_ordinal=first,
            count=len(command.messages),
        )

    return Decision(events=[event], then=then)


HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {
    UploadObject: upload,
    DeleteObject: delete,
    AppendMessages: append,
}
"""Which handler decides each command of the subdomain."""
