"""Sample BlobHub payloads shared by the adapters' tests (REST, JSON-RPC, websocket packets)."""

from __future__ import annotations

from typing import Any

MESSAGE: dict[str, Any] = {
    "role": "user",
    "content": [{"type": "text", "text": "hello graph"}, {"type": "json", "json": {"a": 1}}],
    "attributes": {"id": "m1", "created_at": 1780000000000, "syntax_mode": "text"},
    "providers": [
        {
            "interface": "genai.chat",
            "ports": [{"route": "temperature", "value": {"type": "integer", "integer": 1}}],
        }
    ],
}
"""A `message` as BlobHub defines it, with a text and a JSON content block."""
