"""Envelope commands: upload (create or replace), delete (cascading), append messages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from session_engine.engine.commands import Command, Decision
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.errors import (
    InvalidMessagesEnvelope,
    ObjectNotFound,
    SessionObjectTooLarge,
)
from session_engine.engine.objects.events import (
    MessagesAppended,
    ObjectDeleted,
    ObjectUploaded,
    PreviousObject,
)
from session_engine.engine.objects.limits import MAX_MESSAGES, ROW_STRIDE
from session_engine.engine.objects.models import (
    GraphValue,
    Message,
    MessagesValue,
    MessageValue,
    ThreadValue,
    dump,
)
from session_engine.engine.objects.state import forget, handlers, iso, lookup
from session_engine.engine.objects.tables import object_messages
from session_engine.engine.unit_of_work import UnitOfWork

MAX_ORDINALS = 1_000_000
"""Messages one `messages` object may hold in total (uploads plus appends)."""


@dataclass(frozen=True, kw_only=True)
class UploadObject(Command):
    alias: str
    value: MessageValue | MessagesValue | ThreadValue | GraphValue


@dataclass(frozen=True, kw_only=True)
class DeleteObject(Command):
    alias: str


@dataclass(frozen=True, kw_only=True)
class AppendMessages(Command):
    alias: str
    messages: list[Message]


def _summary(command: Command, alias: str, kind: str) -> Any:
    def then(recorded: list[RecordedEvent]) -> dict[str, Any]:
        return {
            "revision_id": command.namespace,
            "session_id": command.stream,
            "alias": alias,
            "type": kind,
            "updated_at": iso(recorded[0].recorded_at),
        }

    return then


@handlers.register(UploadObject)
def upload(command: UploadObject, state: UnitOfWork) -> Decision[dict[str, Any]]:
    existing = lookup(state, command.namespace, command.stream, command.alias)
    kind = command.value.type
    previous = PreviousObject(object_id=existing.object_id, type=existing.type) if existing else None
    keep = existing is not None and existing.type == kind and kind in ("thread", "graph")
    forget(state, command.namespace, command.stream, command.alias)  # later commands read it anew
    event = ObjectUploaded(
        alias=command.alias, value=dump(command.value), previous=previous, keep_children=keep
    )
    return Decision(events=[event], then=_summary(command, command.alias, kind))


@handlers.register(DeleteObject)
def delete(command: DeleteObject, state: UnitOfWork) -> Decision[None]:
    existing = lookup(state, command.namespace, command.stream, command.alias)
    if existing is None:
        raise ObjectNotFound(f"no session object {command.alias!r} in session {command.stream!r}")
    forget(state, command.namespace, command.stream, command.alias)
    return Decision(
        events=[ObjectDeleted(alias=command.alias, object_id=existing.object_id, type=existing.type)]
    )


@handlers.register(AppendMessages)
def append(command: AppendMessages, state: UnitOfWork) -> Decision[dict[str, Any]]:
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
    summary = _summary(command, command.alias, "messages")
    return Decision(
        events=[event],
        then=lambda recorded: {**summary(recorded), "first_ordinal": first, "count": len(command.messages)},
    )
