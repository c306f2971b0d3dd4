"""Checks keys, values and expiry inputs meet before they reach the write path, and how a value
is measured. Identifiers follow the engine's one rule (`engine.ids.check_id`).

PostgreSQL cannot store NUL in text or JSONB, and lone surrogates are not UTF-8: both are refused
on every backend so the two backends accept exactly the same inputs.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import orjson

from session_engine.engine import documents
from session_engine.engine.clock import as_utc
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.values.policy import MAX_KEY_BYTES, MAX_TTL, Policy

MAX_TTL_SECONDS = MAX_TTL.total_seconds()


def check_key(key: object) -> None:
    if not isinstance(key, str):
        raise ValidationFailed("a key must be a string")
    if "\x00" in key or len(_utf8(key, "key")) > MAX_KEY_BYTES:
        raise ValidationFailed(f"a key must be at most {MAX_KEY_BYTES} UTF-8 bytes, without NUL")


def measure(value: Any) -> int:
    """The bytes a value counts against limits: UTF-8 length of a string, compact JSON otherwise.

    A value follows the engine's document rule (`engine.documents`): nesting, 64-bit integers,
    finite numbers (orjson would write NaN as null), no NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("values cannot contain NUL characters")
        return len(_utf8(value, "value"))
    breach = documents.problem(value)
    if breach is not None:
        raise ValidationFailed(f"value: {breach}" if not breach.path else f"value.{breach}")
    try:
        return len(orjson.dumps(value))
    except TypeError as error:  # orjson.JSONEncodeError: lone surrogates, objects it cannot write
        raise ValidationFailed(f"the value is not JSON: {error}") from None


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(f"the {what} is not valid Unicode (lone surrogate)") from None


def check_expiry_inputs(ttl_seconds: object, expires_at: object) -> None:
    if ttl_seconds is not None and expires_at is not None:
        raise ValidationFailed("give a TTL or an expiry instant, not both")
    if ttl_seconds is not None:
        # A tuple, not `int | float`: a union is built anew at each call.
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, (int, float)):
            raise ValidationFailed("ttl_seconds must be a number")
        if not math.isfinite(ttl_seconds) or ttl_seconds > MAX_TTL_SECONDS:
            raise ValidationFailed(f"ttl_seconds must be finite and at most {int(MAX_TTL_SECONDS)}")
    if expires_at is not None and not isinstance(expires_at, datetime):
        raise ValidationFailed("expires_at must be a datetime")


def expiry(
    ttl_seconds: float | None, expires_at: datetime | None, policy: Policy, now: datetime
) -> datetime | None:
    """The absolute expiry of a write recorded at `now`. A TTL <= 0 means the policy's default."""
    if expires_at is not None:
        try:
            return as_utc(expires_at)
        except OverflowError:
            raise ValidationFailed("expires_at is out of range") from None
    if ttl_seconds is not None and ttl_seconds > 0:
        return now + timedelta(seconds=ttl_seconds)
    return now + policy.default_ttl if policy.default_ttl is not None else None
