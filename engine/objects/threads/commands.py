"""The threads' command. The service checks the item's parts first (`check_item`, off the writer
thread); the handler only needs the thread to exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from session_engine.engine.commands import Command


@dataclass(frozen=True, kw_only=True)
class PostThreadItem(Command):
    """Post an item: the server chooses its id (here) and its instant (the log's)."""

    alias: str
    content: list[dict[str, Any]]
    parent_id: str | None = None
    item_metadata: dict[str, Any] | None = None
    user_id: str | None = None
    item_id: str = field(default_factory=lambda: uuid.uuid4().hex)
