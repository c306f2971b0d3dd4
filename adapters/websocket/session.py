"""The connection's state machine: one packet in, one response out, or a ProtocolClose.

No I/O here beyond engine calls, so every rule of the protocol reads top to bottom in one place.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from session_engine.adapters.blobhub import CommandError, revision_stream, run_command
from session_engine.adapters.config import WEBSOCKET_KEY_LENGTH, ServerConfig, Tenant
from session_engine.adapters.websocket.objects import ObjectCommand, answer, command_body, refusal
from session_engine.adapters.websocket.protocol import (
    OBJECT_TYPES,
    Body,
    Close,
    Initialize,
    KeyBody,
    PacketType,
    ProtocolClose,
    ReadHistory,
    SetValuePacket,
    Status,
    parse_body,
    response,
)
from session_engine.adapters.websocket.rate_limit import SlidingWindow
from session_engine.adapters.websocket.resumption import SessionState
from session_engine.engine import Engine, Metadata, RecordedEvent
from session_engine.engine.values.errors import StoreOutOfEntries, StoreOutOfMemory, StoreValueNotFound

ADAPTER = "websocket"
log = logging.getLogger("session_engine.websocket")


def new_session(config: ServerConfig) -> SessionState:
    limits = config.limits
    rate = SlidingWindow(limits.rate_limit_actions, limits.rate_limit_window_seconds)
    return SessionState(session_id=f"ws-{uuid.uuid4().hex}", rate=rate)


EVENT_FIELDS = ("position", "version", "type", "data", "recorded_at")


def event_json(event: RecordedEvent) -> dict[str, Any]:
    """The wire form of one recorded event (history and subscriptions)."""
    return event.to_json(EVENT_FIELDS)


class PacketHandler:
    """Answers packets for one session. Subscriptions (which need tasks) live in the endpoint."""

    def __init__(self, engine: Engine, config: ServerConfig, state: SessionState) -> None:
        self.engine = engine
        self.config = config
        self.state = state

    @property
    def tenant(self) -> Tenant:
        assert self.state.tenant is not None
        return self.state.tenant

    def stream(self, revision_id: str | None) -> str:
        """The session's stream in a revision of the tenant (None: its own); a bad id raises
        `ValidationFailed`, which closes 4302 like the engine's other bounds."""
        return revision_stream(self.tenant.namespace, revision_id, self.state.session_id)

    def metadata(self, packet_id: int) -> Metadata:
        return Metadata(actor=self.state.client_id, adapter=ADAPTER, correlation_id=str(packet_id))

    def body(self, kind: int, packet: dict[str, Any]) -> Body | ObjectCommand:
        """The validated body; before Initialize, any other packet closes 4200."""
        if kind != PacketType.INITIALIZE and not self.state.initialized:
            raise ProtocolClose(Close.NOT_INITIALIZED)
        if kind in OBJECT_TYPES:
            return command_body(kind, packet, self.state.session_id)
        return parse_body(kind, packet)

    # -- Initialize -------------------------------------------------------------------------------
    def tenant_for(self, key: str | None) -> Tenant | None:
        if key is None:
            return self.config.anonymous_tenant
        if len(key) != WEBSOCKET_KEY_LENGTH:
            return None
        return self.config.tenant_for_key(key)

    async def initialize(self, packet_id: int, body: Initialize) -> str:
        state = self.state
        if state.initialized:
            return response(packet_id, Status.ALREADY_INITIALIZED)
        status = Status.OK
        tenant = None
        if len(body.client_id) < 4:
            status = Status.CLIENT_ID_TOO_SHORT
        elif len(body.client_id) > 64:
            status = Status.CLIENT_ID_TOO_LONG
        else:
            tenant = self.tenant_for(body.websocket_api_key)
            if tenant is None:
                status = Status.INVALID_API_KEY
        if tenant is not None:
            try:
                await self.engine.values.open_connection_session(
                    tenant.namespace,
                    state.session_id,
                    client_id=body.client_id,
                    metadata=Metadata(actor=body.client_id, adapter=ADAPTER, correlation_id=str(packet_id)),
                )
            except Exception:
                log.exception("could not open session %s", state.session_id)
                status = Status.INTERNAL_SERVER_ERROR
        if status is not Status.OK:
            state.failed_initializations += 1
            if state.failed_initializations >= self.config.limits.max_failed_initialize:
                raise ProtocolClose(Close.INITIALIZE_FAILED, answer=response(packet_id, status))
            return response(packet_id, status)
        assert tenant is not None
        state.tenant, state.client_id, state.failed_initializations = tenant, body.client_id, 0
        return response(packet_id, Status.OK, app_name=tenant.app_name, app_version=tenant.app_version)

    # -- session value cache ------------------------------------------------------------------------
    async def set_value(self, packet_id: int, body: SetValuePacket) -> str:
        try:
            await self.engine.values.set(
                self.tenant.namespace,
                self.state.session_id,
                body.key,
                body.value,
                ttl_seconds=body.ttl,
                metadata=self.metadata(packet_id),
            )
        except StoreOutOfMemory:
            return response(packet_id, Status.STORE_OUT_OF_MEMORY)
        except StoreOutOfEntries:
            return response(packet_id, Status.STORE_OUT_OF_ENTRIES)
        return response(packet_id, Status.OK)

    async def get_value(self, packet_id: int, body: KeyBody) -> str:
        stored = await self.engine.values.get(self.tenant.namespace, self.state.session_id, body.key)
        if stored is None:
            return response(packet_id, Status.STORE_VALUE_NOT_FOUND)
        return response(packet_id, Status.OK, value=stored.value)

    async def delete_value(self, packet_id: int, body: KeyBody) -> str:
        try:
            deleted = await self.engine.values.delete(
                self.tenant.namespace, self.state.session_id, body.key, metadata=self.metadata(packet_id)
            )
        except StoreValueNotFound:
            deleted = False
        return response(packet_id, Status.OK if deleted else Status.STORE_VALUE_NOT_FOUND)

    # -- history (this project's packets) -------------------------------------------------------------
    async def read_history(self, packet_id: int, body: ReadHistory) -> str:
        limit = min(body.limit, self.config.limits.history_page_limit)
        events = await self.engine.read_stream(
            self.tenant.namespace, self.stream(body.revision_id), from_version=body.from_version, limit=limit
        )
        return response(packet_id, Status.OK, events=[event_json(event) for event in events])

    # -- session objects (this project's packets) ----------------------------------------------------
    async def object_command(self, packet_id: int, command: ObjectCommand) -> str:
        """Run a BlobHub command on the connection's session, with the value packets' metadata."""
        try:
            result = await run_command(
                self.engine,
                self.tenant.namespace,
                command.body,
                revision_id=command.revision_id,
                user_id=self.state.client_id,
                adapter=ADAPTER,
                correlation_id=str(packet_id),
            )
        except CommandError as error:
            return refusal(packet_id, error)
        return answer(packet_id, result)
