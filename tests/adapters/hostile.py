"""Hostile input for the adapters' robustness tests, and what every answer to it must satisfy.

Each strategy here yields a JSON text fragment that makes any engine document holding it invalid,
whatever slot it fills: so a request carrying one must be refused, and the log must not move.
- nested beyond the engine's document rule (`engine.documents.MAX_DEPTH`), or beyond the parser's
  own limit (`PARSER_DEPTH`: then the whole text is not JSON);
- an integer outside 64 bits (orjson would have made it a float);
- text that is not JSON: NaN, infinities, a lone surrogate escape, invalid UTF-8 bytes;
- a NUL character in a string (PostgreSQL text cannot hold it; refused on both backends).

`server_log()` collects what the server logs at error level (or with a traceback) meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from hypothesis import strategies as st

from session_engine.engine.documents import MAX_DEPTH, MAX_INTEGER, MIN_INTEGER, PARSER_DEPTH

SERVER_LOGGERS = ("session_engine", "uvicorn")


def nested(depth: int, leaf: bytes = b"1", opening: bytes = b"[") -> bytes:
    """`leaf` inside `depth` levels of arrays (`[`) or objects (`{"k":`)."""
    closing = b"]" if opening == b"[" else b"}"
    return opening * depth + leaf + closing * depth


@st.composite
def too_deep(draw: st.DrawFn) -> bytes:
    """Nested past the engine's limit (still JSON), or past the parser's (not JSON)."""
    depth = draw(
        st.one_of(
            st.integers(MAX_DEPTH + 1, MAX_DEPTH + 40),
            st.integers(MAX_DEPTH * 3, 1000),  # deep enough for a RecursionError in a recursive walk
            st.integers(PARSER_DEPTH + 1, PARSER_DEPTH + 40),
        )
    )
    leaf = draw(st.sampled_from([b"1", b'"x"', b"null", b"{}"]))
    return nested(depth, leaf, draw(st.sampled_from([b"[", b'{"k":'])))


huge_integer = st.one_of(
    st.integers(min_value=MAX_INTEGER + 1, max_value=MAX_INTEGER * 2**64),
    st.integers(min_value=MIN_INTEGER * 2**64, max_value=MIN_INTEGER - 1),
).map(lambda number: str(number).encode())
"""An integer literal outside 64 bits: orjson alone would have turned it into a float."""

INVALID_UTF8 = (b'"\xff"', b'"\xc3\x28"', b'"\xed\xa0\x80"')
"""Strings of bytes that are not UTF-8 (a websocket text frame cannot carry them)."""

not_json = st.sampled_from(
    [b"NaN", b"-Infinity", b"Infinity", b"1e999", b'"\\ud800"', b'"a\\udc00"', b"[1,]", b"{", *INVALID_UTF8]
)
"""Text our JSON parser refuses: NaN, infinities, lone surrogate escapes, invalid UTF-8, syntax."""

nul_string = st.just(b'"nul\\u0000here"')

document_breaker = st.one_of(
    too_deep(),
    huge_integer,
    huge_integer.map(lambda number: b'[1, {"n": ' + number + b"}]"),
    not_json,
    nul_string,
)
"""A fragment that makes whatever engine document holds it refused."""

not_a_string = st.one_of(
    st.sampled_from([b"1", b"-1.5", b"true", b"null", b"[]", b"{}", b'["x"]', b'{"x": 1}']),
    huge_integer,
    too_deep(),
)
"""A value for a field that must be a string."""


def text_frame(fragment: bytes) -> bool:
    """Whether a fragment can travel in a websocket text frame (valid UTF-8)."""
    try:
        fragment.decode()
    except UnicodeDecodeError:
        return False
    return True


class ServerLog(logging.Handler):
    """Records of the server's loggers at error level, or carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SERVER_LOGGERS) and (record.levelno >= logging.ERROR or record.exc_info):
            self.records.append(record)

    def assert_clean(self) -> None:
        lines = [f"{r.name} {r.levelname}: {r.getMessage()}" for r in self.records]
        assert not self.records, f"the server logged errors: {lines}"


@contextlib.contextmanager
def server_log() -> Iterator[ServerLog]:
    """Collect the server's error-level records (it runs in this process) while the block runs."""
    handler = ServerLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, f"a traceback in an answer: {text[:500]}"
