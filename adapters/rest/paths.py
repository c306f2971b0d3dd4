"""Path convertors for ids that may hold any character, `/` included (registered on import).

Routes use `{id:seg}` (one segment) or `{key:rest}` (the rest of the path). They receive the
*raw* path (see `adapters.rest.body.BodyAndPath`) and percent-decode each segment exactly once.

Neither matches a dot segment (`.` or `..`, also percent-encoded: `%2e`, `.%2E`, `%2e%2e`...).
Clients' URL parsers remove those before sending (RFC 3986 section 5.2.4; the WHATWG URL standard
that `fetch` and the Rust `url` crate follow also decodes `%2e`), and so may any proxy on the way:
such a path names some other resource to everyone but us. Acting on it literally could act on a
resource its sender never named; it matches no route and is answered 404.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor

_DOT_SEGMENT = r"(?:\.|%2[eE]){1,2}(?:/|$)"
_NOT_DOT = f"(?!{_DOT_SEGMENT})"
"""At the start of a segment: it is not a dot segment (the route regex ends with `$`)."""


class SegmentConvertor(Convertor[str]):
    """One path segment, percent-decoded once (`%2F` becomes `/` inside the value)."""

    regex = f"{_NOT_DOT}[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value, errors="replace")

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


class RestConvertor(Convertor[str]):
    """The rest of the path (always a route's last part); each segment decoded, so `a/b` and
    `a%2Fb` both give `a/b`. Not empty, and none of its segments is a dot segment."""

    regex = f"(?=.){_NOT_DOT}[^/]*(?:/{_NOT_DOT}[^/]*)*"

    def convert(self, value: str) -> str:
        return "/".join(unquote(part, errors="replace") for part in value.split("/"))

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("seg", SegmentConvertor())
register_url_convertor("rest", RestConvertor())
