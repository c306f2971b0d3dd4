"""What a backend offers a batch that answers a decision read from rows its writer kept, without
the read's round trip (`Backend.guesses`; the bookkeeping is `engine/stream_versions.py`'s)."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.engine import Connection

from session_engine.engine.backends.prepared import DriverStatement


class ReadGuesses(Protocol):
    """Each method queues its statement in the connection's open pipeline (`Backend.pipeline`)."""

    def read_again(self, connection: Connection, statement: DriverStatement, args: tuple[Any, ...]) -> Any:
        """Queue the read, its rows and their digest to come: a handle for `kept`."""

    def kept(self, statement: DriverStatement, handle: Any) -> tuple[list[Any], str]:
        """Once the pipeline has ended: the rows `read_again` read (converted as a read converts
        them) and their digest."""

    def expect(
        self, connection: Connection, statement: DriverStatement, args: tuple[Any, ...], digest: str
    ) -> None:
        """Queue a statement that fails, and makes the pipeline raise `HeadMoved`, unless the read
        with `args` finds rows of that digest now."""
