"""NOTIFY followed on a connection of its own: how a process hears that another one appended.

A writer notifies only while another process listens: each listener registers in `log_listeners`
(a token of its own, its connection's backend pid), and the writer's NOTIFY is a statement that
notifies only where a row other than its own listener's is there (`NOTIFY_OTHERS`). A lone
process then spends nothing on hearing its own commits: its listener's backend delivered each one
to this process, whose listener thread woke to drop it (~75 µs of server CPU per append,
docs/benchmarks.md "Session 12: PostgreSQL's write path").

No commit is missed for it. A listener registers first, then reads the head under the log lock
and reports it. A writer holds the log lock from before its NOTIFY statement to its commit, so a
commit whose statement ran before the registration was visible is one the head read waits for and
sees; any later one notifies. A listener that reconnects does the same, so the commits made while
it was away are reported too. Registrations of processes that are gone (a pid the server no longer
runs) are dropped by the next listener to register; until then writers notify for nobody, as
every writer did before.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from contextlib import suppress

from sqlalchemy.engine import URL

from session_engine.engine.backends.base import LOG_LOCK_KEY, NOTIFY_CHANNEL

NOTIFY_OTHERS = f"SELECT pg_notify('{NOTIFY_CHANNEL}', %s) FROM log_listeners WHERE token <> %s LIMIT 1"
"""The writer's NOTIFY of a new head: sent only where a listener other than the one named (the
writer's own process's) is registered."""
_FORGET_GONE = "DELETE FROM log_listeners WHERE pid NOT IN (SELECT pid FROM pg_stat_activity)"
_REGISTER = (
    "INSERT INTO log_listeners (token, pid) VALUES (%s, pg_backend_pid())"
    " ON CONFLICT (token) DO UPDATE SET pid = excluded.pid"
)
_UNREGISTER = "DELETE FROM log_listeners WHERE token = %s"
_LOCK_LOG = f"SELECT pg_advisory_xact_lock({LOG_LOCK_KEY})"
_HEAD = "SELECT coalesce(max(position), 0) FROM events"


class PostgresListener:
    """Follows NOTIFY on a thread of its own and reports each new head position."""

    def __init__(self, url: URL, on_head: Callable[[int], None]) -> None:
        self._url = url
        self._on_head = on_head
        self.token = uuid.uuid4().hex
        """Names this listener's registration: its own process's writer does not notify it."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session-engine-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    connection.execute(_FORGET_GONE)
                    connection.execute(_REGISTER, (self.token,))
                    try:
                        with connection.transaction():  # see the module's docstring
                            connection.execute(_LOCK_LOG)
                            head = connection.execute(_HEAD).fetchone()
                        if head is not None and head[0]:
                            self._on_head(int(head[0]))
                        while not self._stop.is_set():
                            for notice in connection.notifies(timeout=0.1, stop_after=64):
                                self._on_head(int(notice.payload))
                    finally:
                        with suppress(psycopg.Error):  # gone with the connection: dropped by the next one
                            connection.execute(_UNREGISTER, (self.token,))
            except Exception:  # noqa: BLE001 - the server went away: reconnect, subscribers poll meanwhile
                self._stop.wait(1.0)
