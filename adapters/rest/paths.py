"""Path convertors for ids that may hold any character, `/` included (registered on import).

Routes use `{id:seg}` (one segment) or `{key:rest}` (the rest of the path). They receive the
*raw* path (see `adapters.rest.body.BodyAndPath`) and percent-decode each segment exactly once.
"""

from __future__ import annotations

from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor


class SegmentConvertor(Convertor[str]):
    """One path segment, percent-decoded once (`%2F` becomes `/` inside the value)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value, errors="replace")

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


class RestConvertor(Convertor[str]):
    """The rest of the path; each segment decoded, so `a/b` and `a%2Fb` both give `a/b`."""

    regex = ".+"

    def convert(self, value: str) -> str:
        return "/".join(unquote(part, errors="replace") for part in value.split("/"))

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("seg", SegmentConvertor())
register_url_convertor("rest", RestConvertor())
