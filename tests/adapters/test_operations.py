"""Operating the server: what any client can make it log, timeouts, per-connection budgets.

These run `session-engine serve` in a subprocess and read its real log output (JSON lines on
standard error): what an operator sees.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from session_engine.adapters.rpc.bus.auth import sign
from tests.adapters.rpc.client import BusClient
from tests.adapters.rpc.conftest import BUS_SECRET, make_config
from tests.adapters.server import close_frame, running_server
from tests.adapters.websocket.conftest import ACME_KEY
from tests.records.helpers import record

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    """`session-engine serve` in a subprocess; `stop()` stops it gracefully and returns its log lines."""

    def __init__(
        self, tmp_path: Path, config: str = "", database: str | None = None, arguments: Sequence[str] = ()
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"server-{self.port}.log"
        command = [sys.executable, "-m", "session_engine.adapters.cli.main", "serve"]
        command += ["--port", str(self.port), *arguments]
        if config:
            path = tmp_path / "server.toml"
            path.write_text(config)
            command += ["--config", str(path)]
        env = {**os.environ, "SESSION_ENGINE_DATABASE": database or f"sqlite:///{tmp_path / 'serve.db'}"}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "the server did not become ready in 30 s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base}/readyz").status_code == 200:
                    break
            time.sleep(0.05)

    def stop(self) -> list[str]:
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(timeout=30) == 0
        return self.log_path.read_text().splitlines()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def served(
    tmp_path: Path, config: str = "", database: str | None = None, arguments: Sequence[str] = ()
) -> Iterator[Served]:
    server = Served(tmp_path, config, database, arguments)
    try:
        yield server
    finally:
        server.kill()


def raw(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return connection


def reset(connection: socket.socket) -> None:
    """Close with a TCP reset: the client is gone, whatever the server still meant to send."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    connection.close()


def read_response(connection: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP response off a raw socket: its head (status line and headers) and its body."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    found = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    assert found is not None, head
    while len(body) < int(found.group(1)):
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        body += chunk
    return head, body


def quiet(lines: list[str]) -> list[str]:
    """The log lines an operator should not have to read after clients' mistakes: every line is one
    JSON object without terminal escape codes, and none is an error or carries a traceback."""
    loud = []
    for line in lines:
        if "\x1b" in line or "\\u001b" in line:  # raw, or escaped inside a JSON string
            loud.append(f"escape codes: {line}")
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            if not line.startswith("development mode:"):  # printed for the operator, not a log line
                loud.append(f"not JSON: {line}")
            continue
        if entry["level"] in ("error", "critical") or "exception" in entry or "Exception" in entry["message"]:
            loud.append(line)
    return loud


def test_clients_mistakes_log_no_error_and_no_traceback(tmp_path: Path) -> None:
    with served(tmp_path) as server:
        ws = f"ws://127.0.0.1:{server.port}"
        for path in ("/ws", "/rpc", "/bus"):  # a text frame that is not UTF-8: closed 1007
            with connect(ws + path, open_timeout=TIMEOUT) as peer:
                peer.send(b'{"type": "x\xff"}', text=True)
                assert close_frame(peer, TIMEOUT)[0] == 1007

        # A client that hangs up in the middle of its request body.
        connection = raw(server.port)
        connection.sendall(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        connection.sendall(b"Content-Length: 1000\r\n\r\n" + b'{"jsonrpc": "2.0", ')
        reset(connection)

        # ... and one that hangs up before its reply has been sent.
        batch = orjson.dumps([{"jsonrpc": "2.0", "id": i, "method": "no/such"} for i in range(2000)])
        for _ in range(5):
            connection = raw(server.port)
            connection.sendall(
                b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(batch)}\r\n\r\n".encode()
                + batch
            )
            reset(connection)

        # A body announced over the limit is refused before it is sent.
        connection = raw(server.port)
        connection.sendall(
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n"
        )
        head, body = read_response(connection)
        connection.close()
        assert head.startswith(b"HTTP/1.1 413 "), head
        assert orjson.loads(body)["error"]["code"] == 413

        lines = server.stop()
    assert quiet(lines) == []
    assert any('"message":"engine closed"' in line for line in lines)
    serving = next(orjson.loads(line) for line in lines if '"message":"serving"' in line)
    assert serving["urls"]["websocket"] == f"ws://127.0.0.1:{server.port}/ws"  # start-up names its URLs


# -- HTTP timeouts -------------------------------------------------------------------------------
SHORT = {"idle_timeout_seconds": 0.5, "header_timeout_seconds": 0.5, "body_timeout_seconds": 1.0}
"""Short timeouts for the tests; every client below is slower than them by a wide margin."""
TRICKLE_SECONDS = 0.05
TRICKLE_STEPS = 1000  # 50 s of trickling: far past every timeout above


@pytest.fixture(scope="module")
def timed_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    database = tmp_path_factory.mktemp("timeouts") / "server.db"
    with running_server(f"sqlite:///{database}", make_config(**SHORT)) as base:
        yield int(base.rsplit(":", 1)[1])


def closed_by_server(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := connection.recv(65536):
            received += chunk
    return received


def trickle(connection: socket.socket, pieces: Iterator[bytes]) -> bytes:
    """Send `pieces` one at a time, slowly, until the server closes the connection: what it sent."""
    for piece in pieces:
        try:
            connection.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            break
        ready, _, _ = select.select([connection], [], [], TRICKLE_SECONDS)
        if ready:
            break
    return closed_by_server(connection)


def test_a_connection_that_never_sends_a_byte_is_closed(timed_port: int) -> None:
    with raw(timed_port) as connection:
        assert closed_by_server(connection) == b""


def test_an_idle_keep_alive_connection_is_closed(timed_port: int) -> None:
    with raw(timed_port) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = read_response(connection)
        assert head.startswith(b"HTTP/1.1 200 ") and orjson.loads(body) == {"status": "ok"}
        assert closed_by_server(connection) == b""


def test_headers_that_trickle_in_are_cut_off_with_408(timed_port: int) -> None:
    """Slowloris: a header line now and then keeps the connection busy, never complete."""
    with raw(timed_port) as connection:
        lines = (
            b"GET /healthz HTTP/1.1\r\n" if i == 0 else b"X-Slow-%d: x\r\n" % i for i in range(TRICKLE_STEPS)
        )
        assert trickle(connection, lines).startswith(b"HTTP/1.1 408 ")


def test_a_body_that_trickles_in_is_cut_off_with_408(timed_port: int) -> None:
    """A byte at a time keeps every read short; the body's deadline is a total."""
    with raw(timed_port) as connection:
        connection.sendall(
            b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + b"X-Api-Key: %s\r\nContent-Length: %d\r\n\r\n" % (ACME_KEY.encode(), TRICKLE_STEPS)
        )
        assert trickle(connection, (b" " for _ in range(TRICKLE_STEPS))).startswith(b"HTTP/1.1 408 ")


def test_a_prompt_client_is_served_on_one_connection(timed_port: int) -> None:
    request = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "no/such"})
    with raw(timed_port) as connection:
        for _ in range(3):
            connection.sendall(
                b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + b"X-Api-Key: %s\r\nContent-Length: %d\r\n\r\n" % (ACME_KEY.encode(), len(request))
                + request
            )
            head, body = read_response(connection)
            assert head.startswith(b"HTTP/1.1 200 "), head
            assert orjson.loads(body)["error"]["code"] == -32601


def test_a_websocket_outlives_the_http_timeouts(timed_port: int) -> None:
    """The upgrade leaves the HTTP protocol and its timers: a quiet websocket stays open."""
    with connect(f"ws://127.0.0.1:{timed_port}/rpc", additional_headers={"X-Api-Key": ACME_KEY}) as peer:
        with pytest.raises(TimeoutError):
            peer.recv(timeout=3 * SHORT["body_timeout_seconds"])
        peer.send(orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "no/such"}).decode())
        assert orjson.loads(peer.recv(timeout=TIMEOUT))["error"]["code"] == -32601


# -- peers that never read -----------------------------------------------------------------------
PIPELINED = 1000
BIG_TEXT = secrets.token_urlsafe(11_000)  # 15 KB a connection value may hold; random: deflate keeps it big


class Noticed(logging.Handler):
    """Every log line of this process (the server runs in one of its threads): `seen` is set when a
    message contains `text`; `errors` keeps the error-level ones."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.INFO)
        self.text = text
        self.seen = threading.Event()
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()
        if record.levelno >= logging.ERROR:
            self.errors.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def noticed(logger: str, text: str) -> Iterator[Noticed]:
    """Watch the log for `text`, logged by `logger` at info."""
    handler = Noticed(text)
    root, target = logging.getLogger(), logging.getLogger(logger)
    level = target.level
    root.addHandler(handler)
    target.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        target.setLevel(level)


@pytest.fixture(scope="module")
def stall_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("stalls") / "server.db"
    with running_server(f"sqlite:///{database}", make_config(send_stall_seconds=0.5)) as base:
        yield base


def not_reading(url: str, **headers: str) -> ClientConnection:
    """A websocket client that reads as little as it can: a tiny socket receive buffer, one
    message of room in the client library's queue, and a test that does not call `recv`."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return connect(
        url, sock=sock, max_queue=1, max_size=None, open_timeout=TIMEOUT, additional_headers=headers
    )


def drained_until_close(peer: ClientConnection) -> tuple[int, int]:
    """Read everything the server had sent, up to its close: (messages, close code)."""
    messages = 0
    try:
        while True:
            peer.recv(timeout=TIMEOUT)
            messages += 1
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, f"dropped without a close frame after {messages} messages"
        return messages, closed.rcvd.code


def test_a_websocket_client_that_never_reads_is_closed_1008(stall_base: str) -> None:
    """Packets pipelined by a `/ws` client that reads none of the answers (each 15 KB)."""
    url = stall_base.replace("http", "ws") + "/ws"
    with noticed("session_engine.websocket", "does not read") as stalled, not_reading(url) as peer:
        peer.send(
            orjson.dumps(
                {"type": 0, "id": 1, "client_id": "desktop-main", "websocket_api_key": ACME_KEY}
            ).decode()
        )
        assert orjson.loads(peer.recv(timeout=TIMEOUT))["status"] == 1
        peer.send(orjson.dumps({"type": 12, "id": 2, "key": "big", "value": BIG_TEXT, "ttl": 0}).decode())
        assert orjson.loads(peer.recv(timeout=TIMEOUT))["status"] == 1
        for packet_id in range(3, 3 + PIPELINED):
            peer.send(orjson.dumps({"type": 13, "id": packet_id, "key": "big"}).decode())
        assert stalled.seen.wait(60), "the server never gave up on the peer"
        answered, code = drained_until_close(peer)
    assert code == 1008 and answered < PIPELINED
    assert stalled.errors == []
    assert httpx.get(stall_base + "/readyz").status_code == 200


def test_a_json_rpc_client_that_never_reads_is_closed_1008(stall_base: str) -> None:
    url = stall_base.replace("http", "ws") + "/rpc"
    message = {"role": "user", "content": [{"type": "text", "text": BIG_TEXT}]}
    upload = {"session_id": "s", "alias": "big", "value": {"type": "message", "message": message}}
    with (
        noticed("session_engine.websocket", "does not read") as stalled,
        not_reading(url, **{"X-Api-Key": ACME_KEY}) as peer,
    ):
        peer.send(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": 0, "method": "upload_session_object", "params": upload}
            ).decode()
        )
        assert "result" in orjson.loads(peer.recv(timeout=TIMEOUT))
        download = {"session_id": "s", "alias": "big"}
        for request_id in range(1, 1 + PIPELINED):
            request = {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "download_session_object",
                "params": download,
            }
            peer.send(orjson.dumps(request).decode())
        assert stalled.seen.wait(60), "the server never gave up on the peer"
        answered, code = drained_until_close(peer)
    assert code == 1008 and answered < PIPELINED
    assert stalled.errors == []


def test_a_bus_peer_pipelining_requests_it_never_reads_is_closed_1008(stall_base: str) -> None:
    """Each `list` answer carries 30 sessions with 2 KB titles; the peer reads none of them."""
    url = stall_base.replace("http", "ws") + "/bus"
    with BusClient(url) as writer:
        for n in range(30):
            sid = f"stall-{n}"
            writer.call("set", {"sessionId": sid, "session": record(sid, title=secrets.token_urlsafe(1500))})
    with noticed("session_engine.websocket", "does not read") as stalled, not_reading(url) as peer:
        challenge = orjson.loads(peer.recv(timeout=TIMEOUT))
        signature = sign(BUS_SECRET, challenge["nonce"])
        peer.send(orjson.dumps({"type": "auth-response", "signature": signature}).decode())
        for _ in range(3):  # the auth result, the server's subjects, its sync-complete
            peer.recv(timeout=TIMEOUT)
        peer.send(orjson.dumps({"type": "subscribe-sync-complete"}).decode())
        for n in range(PIPELINED):
            request = {
                "type": "request",
                "namespace": "storage:session",
                "subject": "list",
                "correlationId": f"c{n}",
                "messageId": f"m{n}",
                "payload": {"limit": 30},
            }
            peer.send(orjson.dumps(request).decode())
        assert stalled.seen.wait(60), "the server never gave up on the peer"
        answered, code = drained_until_close(peer)
    assert code == 1008 and answered < PIPELINED
    assert stalled.errors == []


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_count_commands_by_outcome_and_time_commits(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'metrics.db'}", make_config()) as base:
        headers = {"X-Api-Key": ACME_KEY}
        message = {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        upload = {"session_id": "m", "alias": "a", "value": {"type": "message", "message": message}}
        calls = [
            {"jsonrpc": "2.0", "id": 1, "method": "upload_session_object", "params": upload},
            {"jsonrpc": "2.0", "id": 2, "method": "upload_session_object", "params": upload},
            {
                "jsonrpc": "2.0",
                "id": 3,
                "method": "delete_session_object",
                "params": {"session_id": "m", "alias": "x"},
            },
        ]
        answers = [httpx.post(base + "/rpc", json=call, headers=headers).json() for call in calls]
        head = httpx.get(base + "/readyz").json()["head"]
        scraped = httpx.get(base + "/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
    }
    assert samples[("session_engine_commands_total", (("command", "UploadObject"), ("outcome", "ok")))] == 2
    failed = [
        key
        for key in samples
        if key[0] == "session_engine_commands_total" and ("command", "DeleteObject") in key[1]
    ]
    assert "error" in answers[2] and len(failed) == 1 and dict(failed[0][1])["outcome"] != "ok"
    assert samples[("session_engine_commit_seconds_count", ())] >= 3
    assert samples[("session_engine_open_connections", (("surface", "http"),))] >= 1  # the scrape's own
    assert samples[("session_engine_pending_writes", ())] == 0  # every command answered
    assert (
        samples[("session_engine_log_head", ())]
        == head
        == samples[("session_engine_events_appended_total", ())]
    )


def test_metrics_count_websocket_connections_and_closes_by_code(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'metrics.db'}", make_config()) as base:
        ws = base.replace("http", "ws")
        with connect(ws + "/bus", open_timeout=TIMEOUT) as peer:
            assert scraped(base)[("session_engine_open_connections", (("surface", "bus"),))] == 1
            peer.send(b"\xff", text=True)
            assert close_frame(peer, TIMEOUT)[0] == 1007
        with connect(ws + "/rpc", open_timeout=TIMEOUT, additional_headers={"X-Api-Key": ACME_KEY}) as rpc:
            add = {"jsonrpc": "2.0", "id": 1, "method": "subscription/add", "params": {"scope_id": "acme"}}
            rpc.send(orjson.dumps(add).decode())
            assert orjson.loads(rpc.recv(timeout=TIMEOUT)) == {"jsonrpc": "2.0", "id": 1, "result": {}}
            assert scraped(base)[("session_engine_subscriptions", ())] == 1
        # the client closes: the server's echo is 1000
        closes = {("bus", "1007"), ("jsonrpc", "1000")}
        for _ in range(1000):  # the server counts a close once its socket is gone: soon after
            samples = scraped(base)
            counted = {
                (dict(labels)["surface"], dict(labels)["code"])
                for (name, labels), value in samples.items()
                if name == "session_engine_websocket_closes_total" and value == 1
            }
            if counted == closes and samples[("session_engine_subscriptions", ())] == 0:
                break
            time.sleep(0.01)
        assert counted == closes
        assert samples[("session_engine_open_connections", (("surface", "bus"),))] == 0
        assert samples[("session_engine_open_connections", (("surface", "jsonrpc"),))] == 0
        assert samples[("session_engine_subscriptions", ())] == 0


def scraped(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(base + "/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    """The server's frames in `data` (unmasked, as a server sends them): (opcode, payload)."""
    frames, at = [], 0
    while at + 2 <= len(data):
        opcode, length = data[at] & 0x0F, data[at + 1] & 0x7F
        at += 2
        if length == 126:
            length, at = int.from_bytes(data[at : at + 2], "big"), at + 2
        elif length == 127:
            length, at = int.from_bytes(data[at : at + 8], "big"), at + 8
        frames.append((opcode, data[at : at + length]))
        at += length
    return frames


def test_a_peer_that_answers_no_ping_is_closed_1008(tmp_path: Path) -> None:
    """A websocket peer that reads nothing and so answers no ping, with too little unsent for the
    send stall to notice: closed 1008 `keepalive ping timeout` (uvicorn's own close said 1011, the
    code for the server's errors), the socket dropped after it."""
    config = make_config(ping_interval_seconds=0.3, ping_timeout_seconds=0.3)
    with running_server(f"sqlite:///{tmp_path / 'pings.db'}", config) as base:
        host, port = base.split("//")[1].split(":")
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as peer:
            peer.sendall(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            handshake = b""
            while b"\r\n\r\n" not in handshake:
                handshake += peer.recv(4096)
            assert handshake.startswith(b"HTTP/1.1 101"), handshake
            time.sleep(2.0)  # pings go unanswered: nothing here reads or answers them
            received = handshake.split(b"\r\n\r\n", 1)[1]
            while not any(opcode == 0x8 for opcode, _ in _frames(received)):
                chunk = peer.recv(65536)
                assert chunk, f"dropped without a close frame: {_frames(received)}"
                received += chunk
        frames = _frames(received)
        assert any(opcode == 0x9 for opcode, _ in frames), frames  # it was pinged
        close = next(payload for opcode, payload in frames if opcode == 0x8)
        assert (int.from_bytes(close[:2], "big"), close[2:]) == (1008, b"keepalive ping timeout")
        assert httpx.get(base + "/readyz").status_code == 200
