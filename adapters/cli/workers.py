"""`serve --workers N`: N server processes accepting on one listening socket.

The supervisor binds the socket, then starts N `serve` processes that inherit it (`--socket-fd`)
and accept from it in turn; each opens its own engine on the one database, as N processes behind
a load balancer would (specs/operations.md, "Several processes on one database"). Each worker
is in a session of its own: a terminal's Ctrl-C reaches the supervisor alone, which asks every
worker once to stop gracefully (SIGINT) and waits for them. A worker that dies is started again.

Metrics: the supervisor gives its workers a fresh `PROMETHEUS_MULTIPROC_DIR`, where each keeps its
values, so a scrape of `/metrics` sums every worker whichever answers it (adapters/metrics.py); a
worker's exit is marked there (its live gauges leave the sums; its counters stay in them).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from session_engine.adapters.metrics import MULTIPROCESS_DIRECTORY

log = logging.getLogger("session_engine.server")
RESTART_DELAY = 1.0
POLL_SECONDS = 0.2


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every worker accepts on (bound and listening before any worker starts)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, sock: socket.socket, workers: int, arguments: Sequence[str]) -> None:
        self.sock = sock
        self.workers = workers
        self.command = [
            sys.executable,
            "-m",
            "session_engine.adapters.cli.main",
            "serve",
            *arguments,
            "--socket-fd",
            str(sock.fileno()),
        ]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stopping = False
        self.metrics = ""
        """The workers' metrics directory (made by `run`, removed when every worker has stopped)."""

    def _start(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, MULTIPROCESS_DIRECTORY: self.metrics}
        process = subprocess.Popen(
            self.command, pass_fds=(self.sock.fileno(),), start_new_session=True, env=env
        )
        log.info("worker started", extra={"worker_pid": process.pid})
        return process

    def _exited(self, process: subprocess.Popen[bytes]) -> None:
        mark_process_dead(process.pid, self.metrics)  # type: ignore[no-untyped-call]

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            return
        self.stopping = True
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)

    def run(self) -> int:
        """Serve until SIGINT or SIGTERM; 0 when every worker stopped cleanly."""
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.metrics = tempfile.mkdtemp(prefix="session-engine-metrics-")
        try:
            self.processes = [self._start() for _ in range(self.workers)]
            while not self.stopping:
                time.sleep(POLL_SECONDS)
                for index, process in enumerate(self.processes):
                    code = process.poll()
                    if code is not None and not self.stopping:
                        log.error(
                            "worker exited; starting another", extra={"worker_pid": process.pid, "code": code}
                        )
                        self._exited(process)
                        time.sleep(RESTART_DELAY)
                        self.processes[index] = self._start()
            codes = [process.wait() for process in self.processes]
        finally:
            shutil.rmtree(self.metrics, ignore_errors=True)
        self.sock.close()
        return 0 if all(code == 0 for code in codes) else 1
