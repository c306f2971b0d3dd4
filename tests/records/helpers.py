"""Builders of wire records and message content for the records tests."""

from __future__ import annotations

from typing import Any

from session_engine.adapters.rpc.bus.subjects import RecordSubjects
from session_engine.engine import Engine

NS = "tenant"


def record(session_id: str, last: float = 1000, **fields: Any) -> dict[str, Any]:
    """A minimal valid wire record, plus any fields given (wire names)."""
    return {
        "sessionId": session_id,
        "createdAt": fields.pop("createdAt", 1),
        "lastActivityAt": last,
        "agents": fields.pop("agents", []),
        "status": fields.pop("status", "active"),
        **fields,
    }


def identity(client_id: str, account: str) -> dict[str, Any]:
    observation = {
        "clientId": client_id,
        "source": "hook",
        "kind": "login",
        "observedAt": 5,
        "payload": {"a": 1},
    }
    return {"clientId": client_id, "clientAccountId": account, "lastClientIdentityObservation": observation}


async def put(engine: Engine, session_id: str, last: float = 1000, **fields: Any) -> dict[str, Any]:
    result = await RecordSubjects(engine).set(
        NS, {"sessionId": session_id, "session": record(session_id, last, **fields)}
    )
    return result.model_dump()


async def say(engine: Engine, session_id: str, *messages: tuple[str, str], alias: str = "conv") -> None:
    """Give a session messages through the objects domain (a `messages` object)."""
    body = [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in messages]
    await engine.objects.upload(NS, session_id, alias, {"type": "messages", "messages": body})
