"""The threads' decision: posting an item (the server sets id, created_at and user_id), in the
table `HANDLERS`; `check_item` is what the service checks before it builds the command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from session_engine.engine.commands import Command, Decision
from session_engine.engine.ids import check_id
from session_engine.engine.log.records import RecordedEvent
from session_engine.engine.objects.answers import ThreadItem
from session_engine.engine.objects.limits import MAX_THREAD_ITEM_BYTES
from session_engine.engine.objects.models import check_document, json_size, parse_content
from session_engine.engine.objects.scopes import owner_of
from session_engine.engine.objects.state import lookup
from session_engine.engine.objects.threads.commands import PostThreadItem
from session_engine.engine.objects.threads.errors import (
    InvalidThreadEnvelope,
    InvalidThreadItem,
    ThreadItemTooLarge,
)
from session_engine.engine.objects.threads.events import ThreadItemPosted
from session_engine.engine.unit_of_work import UnitOfWork


def check_item(content: Any, parent_id: Any, item_metadata: Any, user_id: Any) -> list[dict[str, Any]]:
    """Validate a thread item's parts; returns the content in its stored JSON form."""
    item = {"content": content, "metadata": item_metadata}
    if json_size(item, InvalidThreadItem, "item") > MAX_THREAD_ITEM_BYTES:
        raise ThreadItemTooLarge(
            f"a thread item's content and metadata are limited to {MAX_THREAD_ITEM_BYTES} bytes"
        )
    blocks = parse_content(content)
    for name, value in (("parent_id", parent_id), ("user_id", user_id)):
        if value is not None:
            check_id(name, value, InvalidThreadItem)
    if item_metadata is not None and not isinstance(item_metadata, dict):
        raise InvalidThreadItem("metadata must be an object")
    check_document(item_metadata, InvalidThreadItem, "metadata")
    return [block.model_dump(mode="json", by_alias=True) for block in blocks]


def post(command: PostThreadItem, state: UnitOfWork) -> Decision[ThreadItem]:
    thread = lookup(state, command.namespace, command.stream, command.alias)
    if thread is None or thread.type != "thread":
        raise InvalidThreadEnvelope(f"{command.alias!r} is not a thread in this session")
    event = ThreadItemPosted(
        alias=command.alias,
        object_id=thread.object_id,
        item_id=command.item_id,
        user_id=command.user_id,
        content=command.content,
        parent_id=command.parent_id,
        metadata=command.item_metadata,
    )

    scope, session_id = owner_of(command.namespace, command.stream)

    def then(recorded: list[RecordedEvent]) -> ThreadItem:
        return ThreadItem(
            id=command.item_id,
            scope=scope,
            session_id=session_id,
            alias=command.alias,
            created_at=recorded[0].recorded_at,
            user_id=command.user_id,
            content=command.content,
            parent_id=command.parent_id,
            metadata=command.item_metadata,
        )

    return Decision(events=[event], then=then)


HANDLERS: dict[type[Command], Callable[[Any, UnitOfWork], Decision[Any]]] = {PostThreadItem: post}
"""Which handler decides each command of the subdomain."""
