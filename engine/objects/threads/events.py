"""The threads' event: an item posted to a thread (ids, instant and user chosen by the decision)."""

from __future__ import annotations

from typing import Any

from session_engine.engine.events import DomainEvent, EventRegistry


class ThreadItemPosted(DomainEvent):
    event_type = "objects.thread_item_posted"
    alias: str
    object_id: int
    item_id: str
    user_id: str | None = None
    content: list[dict[str, Any]]
    parent_id: str | None = None
    metadata: dict[str, Any] | None = None


EVENTS = EventRegistry([ThreadItemPosted])
"""Every event type of the subdomain, by its stored name."""
