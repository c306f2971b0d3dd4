"""What every objects subdomain's service shares: the engine, the scope, the checked address of a
call and the checks of a read's arguments (the subdomains' services are mixed into `ObjectsService`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

from session_engine.engine.commands import Command
from session_engine.engine.objects.errors import UnreadableArgument, UnreadableCursor
from session_engine.engine.objects.models import check_identifier
from session_engine.engine.objects.scopes import stream_for

T = TypeVar("T")

if TYPE_CHECKING:
    from session_engine.engine.engine import Engine

Instant = datetime | str | None


def instant(value: Instant, name: str) -> datetime | None:
    """An instant filter in UTC (naive means UTC). One outside datetime's range in UTC (year 1 at
    +05:00, say) is refused here, not left to overflow inside the query."""
    if value is None:
        return None
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise UnreadableCursor(f"{name} must be an ISO 8601 instant") from None


def findable(value: str | None, refuse: Callable[[str], UnreadableArgument], what: str) -> None:
    """A read's string argument must be one the database can compare: PostgreSQL text cannot hold
    NUL, so such a query would fail in the driver (and find nothing on SQLite)."""
    if value is not None and "\x00" in value:
        raise refuse(f"{what} must not contain NUL (U+0000) characters")


class ObjectCalls:
    """The engine and scope the calls run in; `_address` checks every call's address once."""

    def __init__(self, engine: Engine, scope: str | None = None) -> None:
        self._engine = engine
        self.scope = scope

    def _address(self, namespace: str, session_id: str, alias: str | None = None) -> str:
        """The checked address's log stream: the session id, or its scoped stream."""
        check_identifier("namespace", namespace)
        check_identifier("session_id", session_id)
        if alias is not None:
            check_identifier("alias", alias)
        return stream_for(namespace, self.scope, session_id)

    async def _run(self, command: Command, answer: type[T]) -> T:
        """Execute `command`; its handler's `then` answers an `answer`."""
        outcome = await self._engine.execute(command)
        return cast(T, outcome.result)
