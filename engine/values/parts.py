"""User parts (Distri): values under `__user_part_<name>` keys, to attach to the next user message.

The value shapes are Distri's exactly, `mime_type` included (not `mimeType`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from session_engine.engine.errors import ValidationFailed

PART_PREFIX = "__user_part_"
"""Keys under this prefix are user parts (matched literally: `_` is no wildcard)."""


def part_key(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationFailed("a part name must be a non-empty string")
    return PART_PREFIX + name


def text_part(text: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise ValidationFailed("a text part holds a string")
    return {"part_type": "text", "data": text}


def image_part(
    *, bytes_b64: str | None, url: str | None, mime_type: str, filename: str | None
) -> dict[str, Any]:
    if (bytes_b64 is None) == (url is None):
        raise ValidationFailed("an image part needs exactly one of bytes_b64 and url")
    if not isinstance(mime_type, str) or not mime_type:
        raise ValidationFailed("an image part needs a mime_type")
    if filename is not None and not isinstance(filename, str):
        raise ValidationFailed("an image part's filename must be a string")
    if bytes_b64 is not None:
        try:
            base64.b64decode(bytes_b64, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValidationFailed("bytes_b64 is not valid base64") from None
        data: dict[str, Any] = {"type": "bytes", "bytes": bytes_b64, "mime_type": mime_type, "name": filename}
    else:
        if not isinstance(url, str) or not url:
            raise ValidationFailed("an image part's url must be a non-empty string")
        data = {"type": "url", "url": url, "mime_type": mime_type, "name": filename}
    return {"part_type": "image", "data": data}
