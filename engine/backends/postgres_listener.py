"""NOTIFY followed on a connection of its own: how a process hears that another one appended."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import URL

from session_engine.engine.backends.base import NOTIFY_CHANNEL


class PostgresListener:
    """Follows NOTIFY on a thread of its own and reports each new head position."""

    def __init__(self, url: URL, on_head: Callable[[int], None]) -> None:
        self._url = url
        self._on_head = on_head
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
                    while not self._stop.is_set():
                        for notice in connection.notifies(timeout=0.1, stop_after=64):
                            self._on_head(int(notice.payload))
            except Exception:  # noqa: BLE001 - the server went away: reconnect, subscribers poll meanwhile
                self._stop.wait(1.0)
