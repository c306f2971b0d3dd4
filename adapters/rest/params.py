"""Checks on request parameters that the engine's reads take as they come.

History reads bind ids and event types straight into SQL. PostgreSQL text cannot hold NUL
(U+0000): a NUL there fails inside the driver, which would be a 500 on PostgreSQL and a quiet
empty answer on SQLite. Refused here, with 400 in the family's shape, alike on both backends and
before any engine call. (The objects reads check their own arguments in the engine.)
"""

from __future__ import annotations

from typing import Any

from session_engine.adapters.rest.errors import ApiError
from session_engine.engine.objects.models import has_nul


def refuse_nul(name: str, value: Any, code: str = "invalid_request") -> None:
    """400 when `value` (a string, or any JSON document) contains NUL."""
    if has_nul(value):
        raise ApiError(400, code, f"{name} must not contain NUL (U+0000) characters")
