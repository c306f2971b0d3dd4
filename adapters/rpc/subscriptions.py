"""BlobHub realtime subscriptions over JSON-RPC: `subscription/add|remove` -> engine subscriptions.

Each subscription follows `engine.subscribe` (catch-up from the log, then live: in order, no gaps,
no repeats) filtered to the tenant's namespace, the revision (`scope_id`, any of the tenant's: the
target session's stream in it, or each event's `revision_id`), the BlobHub event types, and
pushes `subscription/event` notifications. The event `id` is its log position: a client that
reconnects subscribes again with `after` = the last id it saw and misses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Literal

import anyio
from anyio.abc import TaskGroup
from pydantic import ConfigDict, Field, ValidationError

from session_engine.adapters.blobhub import events as blobhub
from session_engine.adapters.blobhub.events import EVENT_TYPES, blobhub_event
from session_engine.adapters.rpc.jsonrpc import INVALID_PARAMS, RpcError, notification
from session_engine.engine import Engine, RecordedEvent
from session_engine.engine.errors import ValidationFailed
from session_engine.engine.objects.models import check_identifier
from session_engine.engine.objects.scopes import stream_for

log = logging.getLogger("session_engine.jsonrpc")
BLOBHUB_TYPES = frozenset(EVENT_TYPES.values())
NOT_FOUND = 404
TOO_MANY = 429
Send = Callable[[bytes], Awaitable[None]]
Key = tuple[str, str | None, str | None, frozenset[str] | None]


class SubscriptionParams(blobhub.SubscriptionParams):
    """The reference's params (the shared dispatcher's model), plus `after`: resume after a position."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    types: list[Literal[tuple(sorted(BLOBHUB_TYPES))]] | None = Field(default=None, max_length=16)  # type: ignore[valid-type]
    after: int | None = Field(default=None, ge=0, strict=True)

    @property
    def key(self) -> Key:
        """What identifies a subscription (`after` excluded: remove with the params you added with)."""
        types = frozenset(self.types) if self.types is not None else None
        return (self.scope_id, self.target, self.target_id, types)


def parse_params(params: dict[str, object]) -> SubscriptionParams:
    try:
        parsed = SubscriptionParams.model_validate(params)
    except ValidationError as error:
        issues = [{"path": list(issue["loc"]), "message": issue["msg"]} for issue in error.errors()]
        raise RpcError(INVALID_PARAMS, "invalid subscription params", {"issues": issues}) from None
    if (parsed.target is None) != (parsed.target_id is None):
        raise RpcError(INVALID_PARAMS, "target and target_id go together")
    try:  # the ids every command checks: a subscription names what a command could write
        check_identifier("scope_id", parsed.scope_id)
        if parsed.target_id is not None:
            check_identifier("target_id", parsed.target_id)
    except ValidationFailed as error:
        raise RpcError(INVALID_PARAMS, str(error)) from None
    return parsed


class Subscriptions:
    """One connection's subscriptions. Pushes start only after `release()` (the add's answer is out)."""

    def __init__(self, engine: Engine, namespace: str, tasks: TaskGroup, send: Send, limit: int) -> None:
        self.engine = engine
        self.namespace = namespace
        self.tasks = tasks
        self.send = send
        self.limit = limit
        self.live: dict[Key, anyio.CancelScope] = {}
        self._gate = anyio.Event()

    def add(self, raw: dict[str, object]) -> dict[str, object]:
        params = parse_params(raw)
        stream = self._stream(params)
        if params.key in self.live:
            return {}  # already subscribed: adding again is a no-op
        if len(self.live) >= self.limit:
            raise RpcError(TOO_MANY, f"at most {self.limit} subscriptions per connection")
        after = params.after if params.after is not None else self.engine.hub.head
        wanted = params.types
        log_types = [kind for kind, name in EVENT_TYPES.items() if wanted is None or name in wanted]
        try:  # the engine checks the arguments now, not at the first event: a refusal is the answer
            events = self.engine.subscribe(after, namespace=self.namespace, stream=stream, types=log_types)
        except ValidationFailed as error:
            raise RpcError(INVALID_PARAMS, f"invalid subscription params: {error}") from None
        scope = anyio.CancelScope()
        self.live[params.key] = scope
        self.tasks.start_soon(self._push, params, events, scope, self._gate)
        return {}

    def remove(self, raw: dict[str, object]) -> dict[str, object]:
        params = parse_params(raw)
        scope = self.live.pop(params.key, None)
        if scope is None:
            raise RpcError(NOT_FOUND, "no such subscription")
        scope.cancel()
        return {}

    def _stream(self, params: SubscriptionParams) -> str | None:
        """The target session's stream in the revision (None: every session of the namespace)."""
        if params.target_id is None:
            return None
        try:
            return stream_for(self.namespace, params.scope_id, params.target_id)
        except ValidationFailed as error:
            raise RpcError(INVALID_PARAMS, str(error)) from None

    def release(self) -> None:
        """The answer to the message that added subscriptions has been sent: let them push."""
        if self._gate.is_set():
            return
        self._gate.set()
        self._gate = anyio.Event()

    async def _push(
        self,
        params: SubscriptionParams,
        events: AsyncIterator[RecordedEvent],
        scope: anyio.CancelScope,
        gate: anyio.Event,
    ) -> None:
        with scope:
            await gate.wait()
            try:
                async for recorded in events:
                    document = blobhub_event(recorded)
                    if document is not None and blobhub.event_matches(document, params):
                        await self.send(notification("subscription/event", document))
            except Exception:
                log.exception("json-rpc subscription failed")
                self.live.pop(params.key, None)
