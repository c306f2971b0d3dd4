"""Hostile frames on `/bus`, over a real websocket to a running server (both backends).

Each example opens a connection, authenticates (or not: some frames come first, in place of the
`auth-response`) and sends one hostile frame: a valid message with one field of a wrong JSON type
(a string where a number belongs, a 1,000-deep list, an integer past 64 bits, ...), a frame that is
not a JSON object, a text frame that is not UTF-8, or a binary frame. The templates are real
writes (set, update, delete of existing sessions) so that a frame wrongly accepted would show.

Every frame must get the protocol's own answer: an error response with a protocol code, or a close
frame with a protocol code (4400, 4401, 1003, 1007, 1009) - never 1011 or 4000, never a dropped
connection without a close frame, never an error-level log line; and the records stay as they were.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from tests.adapters.rpc.client import TIMEOUT, BusClient, Frames
from tests.adapters.rpc.test_jsonrpc import ACME
from tests.records.helpers import record

CLOSE_CODES = {4400, 4401, 1003, 1007, 1009}
ANSWER_CODES = {"INVALID_MESSAGE", "VALIDATION_ERROR", "NO_HANDLER"}
PREFIX = "hostile"
KINDS = ("null", "bool", "int", "float", "str", "list", "dict")
HUGE = [2**63, 2**64, 2**64 + 1, -(2**63) - 1, 10**30, -(10**40)]


class Raw(str):
    """JSON text placed as is (a nesting deeper than any encoder writes)."""


def deep(depth: int, bracket: str = "[") -> Raw:
    close = "]" if bracket == "[" else "}"
    inner = '"x"' if bracket == "[" else '{"k":"x"}'
    opening = "[" * depth if bracket == "[" else '{"k":' * depth
    return Raw(opening + inner + close * depth)


def encode(value: Any) -> str:
    """JSON text of `value`: `Raw` parts as given, integers of any size (orjson stops at 64 bits)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))
BY_KIND: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "bool": st.booleans(),
    "int": st.integers(-(2**70), 2**70) | st.sampled_from(HUGE),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "str": st.text(max_size=20),
    "list": st.lists(SCALARS, max_size=3) | st.sampled_from([deep(1000), deep(300)]),
    "dict": st.dictionaries(st.text(max_size=5), SCALARS, max_size=3) | st.sampled_from([deep(1000, "{")]),
}


def wrong(accepted: set[str]) -> st.SearchStrategy[Any]:
    """A JSON value of any kind the field does not accept."""
    return st.sampled_from([k for k in KINDS if k not in accepted]).flatmap(lambda kind: BY_KIND[kind])


NUMBER = {"int", "float"}
REQUEST_FIELDS = {
    "type": {"str"},
    "namespace": {"str"},
    "subject": {"str"},
    "correlationId": {"str"},
    "messageId": {"str", "null"},
    "timeout": NUMBER | {"null"},
    "priority": {"int", "null"},
    "deadline": NUMBER | {"null"},
    "payload": {"dict", "null"},
}
RECORD_FIELDS = {
    "sessionId": {"str"},
    "createdAt": NUMBER,
    "lastActivityAt": NUMBER,
    "agents": {"list"},
    "status": {"str"},
    "title": {"str"},
}
PAYLOAD_FIELDS = {
    "set": {"sessionId": {"str"}, "session": {"dict"}, "ifAbsent": {"bool"}},
    "update": {"sessionId": {"str"}, "status": {"str"}, "title": {"str"}},
    "delete": {"sessionId": {"str"}},
    "list": {"limit": {"int"}, "offset": {"int"}, "status": {"str"}, "includePreview": {"bool"}},
}
OTHER_MESSAGES: dict[str, tuple[dict[str, Any], dict[str, set[str]]]] = {
    "subscribe": (
        {"subjects": {"session.*": [0]}, "ackId": "a1"},
        {"subjects": {"dict"}, "ackId": {"str", "null"}},
    ),
    "unsubscribe": (
        {"subjects": ["session.*"], "ackId": "a2"},
        {"subjects": {"list", "dict"}, "ackId": {"str", "null"}},
    ),
    "heartbeat": ({"timestamp": 1}, {"timestamp": NUMBER | {"null"}}),
    "broadcast": ({"correlationId": "b1"}, {"correlationId": {"str", "null"}}),
    "auth-response": ({"signature": "00"}, {"signature": {"str"}}),
}


def templates() -> dict[str, dict[str, Any]]:
    """Requests that would change the records, were they accepted (and a read)."""
    return {
        "set": {"sessionId": f"{PREFIX}-1", "session": record(f"{PREFIX}-1", 9, title="changed")},
        "update": {"sessionId": f"{PREFIX}-1", "status": "closed", "title": "changed"},
        "delete": {"sessionId": f"{PREFIX}-2"},
        "list": {"limit": 5, "offset": 0, "status": "all", "includePreview": True},
    }


def request(subject: str, payload: dict[str, Any], correlation: str = "h1") -> dict[str, Any]:
    return {
        "type": "request",
        "namespace": "storage:session",
        "subject": subject,
        "payload": payload,
        "correlationId": correlation,
        "messageId": "m1",
        "timeout": 5000,
        "priority": 0,
        "deadline": 4_102_444_800_000,
    }


@dataclass(frozen=True)
class Frame:
    kind: str  # "text" | "binary" | "not-utf8"
    data: str | bytes
    answered: str | None = None
    """The correlationId of a request the server still answers (its envelope names one)."""


@st.composite
def mutated_requests(draw: st.DrawFn) -> Frame:
    subject = draw(st.sampled_from(sorted(templates())))
    message = request(subject, templates()[subject])
    place = draw(
        st.sampled_from(["envelope", "payload", "record"] if subject == "set" else ["envelope", "payload"])
    )
    if place == "envelope":
        field = draw(st.sampled_from(sorted(REQUEST_FIELDS)))
        message[field] = draw(wrong(REQUEST_FIELDS[field]))
    elif place == "payload":
        fields = PAYLOAD_FIELDS[subject]
        field = draw(st.sampled_from(sorted(fields)))
        accepted = fields[field]
        out_of_range = st.sampled_from([-1, 2**62 + 1, *HUGE]) if accepted == {"int"} else st.nothing()
        value = draw(wrong(accepted) | out_of_range)
        message["payload"][field] = value
    else:
        field = draw(st.sampled_from(sorted(RECORD_FIELDS)))
        message["payload"]["session"][field] = draw(wrong(RECORD_FIELDS[field]))
    correlation = message["correlationId"]
    answered = correlation if isinstance(correlation, str) and message["type"] == "request" else None
    return Frame("text", encode(message), answered)


@st.composite
def mutated_messages(draw: st.DrawFn) -> Frame:
    kind = draw(st.sampled_from(sorted(OTHER_MESSAGES)))
    fields, types = OTHER_MESSAGES[kind]
    message = {"type": kind, **fields}
    field = draw(st.sampled_from(sorted(types)))
    message[field] = draw(wrong(types[field]))
    return Frame("text", encode(message))


RAW_FRAMES = st.one_of(
    st.sampled_from(
        [
            Frame("text", "{broken"),
            Frame("text", "[]"),
            Frame("text", '"request"'),
            Frame("text", "null"),
            Frame("text", deep(1100)),  # past the JSON parser's own nesting limit
            Frame("text", encode({"type": deep(1000)})),
            Frame("text", encode({"type": ["request"], "correlationId": "x"})),
            Frame("text", '{"type": "request", "payload": ' + "1" * 400 + "}"),
            Frame("binary", b"\x00\x01binary"),
            Frame("not-utf8", b'{"type": "heartbeat", "x": "\xff\xfe"}'),
        ]
    ),
    st.binary(min_size=1, max_size=40).map(lambda data: Frame("binary", data)),
    st.binary(min_size=1, max_size=40)
    .filter(lambda b: not _utf8(b))
    .map(lambda data: Frame("not-utf8", data)),
    st.text(max_size=30).map(lambda text: Frame("text", text)),
)


def _utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


HOSTILE = st.one_of(mutated_requests(), mutated_messages(), RAW_FRAMES)


class ErrorLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@contextmanager
def error_lines() -> Iterator[ErrorLines]:
    """Every error-level line any logger of this process writes (the server runs in a thread here)."""
    handler = ErrorLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def send(peer: BusClient, frame: Frame) -> None:
    if frame.kind == "binary":
        peer.ws.send(frame.data)
    elif frame.kind == "not-utf8":
        peer.ws.send(frame.data, text=True)  # the bytes as they are, in a text frame
    else:
        peer.ws.send(frame.data)


def frames_until(peer: BusClient, wanted: set[str]) -> tuple[list[dict[str, Any]], int | None]:
    """Frames up to the answers to `wanted` correlation ids, or up to the close (and its code)."""
    seen: list[dict[str, Any]] = []
    try:
        while wanted:
            message = json.loads(peer.ws.recv(timeout=TIMEOUT))
            seen.append(message)
            wanted.discard(message.get("correlationId"))
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, f"dropped without a close frame after {seen}"
        return seen, closed.rcvd.code
    return seen, None


def attack(url: str, frame: Frame, before_auth: bool) -> None:
    with BusClient(url, handshake=not before_auth) as peer:
        if before_auth:
            peer.recv()  # the challenge
            send(peer, frame)
            seen, code = frames_until(peer, {"never answered"})
            assert code in CLOSE_CODES, (frame, code)
            assert all(
                m == {"type": "auth-result", "success": False, "error": "expected auth-response"}
                for m in seen
            )
            return
        send(peer, frame)
        with contextlib.suppress(ConnectionClosed):  # closed already: the close frame is read below
            peer.send(PROBE)
        seen, code = frames_until(peer, {"probe"} | ({frame.answered} if frame.answered else set()))
        assert code is None or code in CLOSE_CODES, (frame, code, seen)
        for message in seen:
            if message.get("correlationId") == "probe":
                assert "result" in message, message
            else:  # the only other frame a hostile one gets: an error answer with a protocol code
                assert message["type"] == "response" and message["error"]["code"] in ANSWER_CODES, (
                    frame,
                    message,
                )


PROBE = {
    "type": "request",
    "namespace": "storage:session",
    "subject": "getStatusCounts",
    "correlationId": "probe",
}


def state(observer: BusClient) -> Any:
    return observer.call("list", {"limit": 1000}), observer.call("getStatusCounts", {})


def test_hostile_frames_get_protocol_answers_and_change_nothing(bus_url: str) -> None:
    with BusClient(bus_url) as observer, error_lines() as errors:
        for n in (1, 2):
            sid = f"{PREFIX}-{n}"
            observer.call("set", {"sessionId": sid, "session": record(sid, n, title="original")})
        before = state(observer)

        @settings(max_examples=settings.default.max_examples * 2)
        @given(frame=HOSTILE, before_auth=st.booleans())
        @example(frame=Frame("not-utf8", b'{"type":"heartbeat"\xff}'), before_auth=False)
        @example(frame=Frame("binary", b"\x01"), before_auth=False)
        @example(frame=Frame("text", encode({"type": ["request"]})), before_auth=True)
        @example(frame=Frame("text", encode({"type": {"a": 1}})), before_auth=False)
        @example(
            frame=Frame(
                "text",
                encode({**request("delete", {"sessionId": f"{PREFIX}-2"}), "subject": deep(1000)}),
                "h1",
            ),
            before_auth=False,
        )
        @example(
            frame=Frame("text", encode(request("list", {"offset": 2**63})), "h1"),
            before_auth=False,
        )
        def hostile(frame: Frame, before_auth: bool) -> None:
            attack(bus_url, frame, before_auth)
            assert errors.lines == []
            assert state(observer) == before

        hostile()


@pytest.mark.parametrize("depth", [1000, 1100])
def test_a_deep_frame_before_authentication_is_refused(bus_url: str, depth: int) -> None:
    with error_lines() as errors:
        attack(bus_url, Frame("text", deep(depth)), before_auth=True)
        assert errors.lines == []


@pytest.mark.parametrize("path", ["/bus", "/rpc", "/ws"])
def test_a_text_frame_that_is_not_utf8_closes_1007_on_every_endpoint(base_url: str, path: str) -> None:
    """The websocket transport's rule, shared by every endpoint: the peer's error, quietly closed."""
    with (
        error_lines() as errors,
        Frames(base_url.replace("http", "ws") + path, additional_headers=ACME) as peer,
    ):
        peer.ws.send(b'{"type": "x\xff"}', text=True)
        assert peer.closed_with()[0] == 1007
        assert errors.lines == []
