"""What each packet does: one function per packet type, and `PACKETS`, the table that names them.

A packet function validates its body (closing 4302 when it fails), calls the engine, and returns
the answer to send; a function whose answer must be followed by something (a subscription's first
events) sends it itself and returns None. No I/O here beyond engine calls and that one send: the
connection (`adapters.websocket.endpoint`) reads frames, checks the envelope and the order of
packets, and looks each packet type up in `PACKETS`, so every rule of a packet reads top to
bottom in its function.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from session_engine.adapters.blobhub.commands import revision_stream, run_command
from session_engine.adapters.blobhub.errors import CommandError
from session_engine.adapters.config import WEBSOCKET_KEY_LENGTH, ServerConfig, Tenant
from session_engine.adapters.requests import note
from session_engine.adapters.websocket.objects import answer, command_body, refusal
from session_engine.adapters.websocket.protocol import (
    OBJECT_TYPES,
    STORE_STATUSES,
    Close,
    Initialize,
    KeyBody,
    PacketType,
    ProtocolClose,
    ReadHistory,
    SetValuePacket,
    Status,
    SubscribeEvents,
    UnsubscribeEvents,
    parse_body,
    response,
)
from session_engine.adapters.websocket.rate_limit import SlidingWindow
from session_engine.adapters.websocket.resumption import SocketSession
from session_engine.engine import Metadata, RecordedEvent
from session_engine.engine.errors import SessionDeleted
from session_engine.engine.values.errors import StoreOutOfEntries, StoreOutOfMemory, StoreValueNotFound

if TYPE_CHECKING:
    from session_engine.adapters.websocket.endpoint import Connection

ADAPTER = "websocket"
log = logging.getLogger("session_engine.websocket")

Packet = dict[str, Any]
"""A packet as it arrived: its envelope (`type`, `id`) checked, its body not yet."""
PacketFunction = Callable[["Connection", int, Packet], Awaitable[str | None]]


def new_session(config: ServerConfig) -> SocketSession:
    limits = config.limits
    rate = SlidingWindow(limits.rate_limit_actions, limits.rate_limit_window_seconds)
    return SocketSession(session_id=f"ws-{uuid.uuid4().hex}", rate=rate)


EVENT_FIELDS = ("position", "version", "type", "data", "recorded_at")


def event_json(event: RecordedEvent) -> dict[str, Any]:
    """The wire form of one recorded event (history and subscriptions)."""
    return event.to_json(EVENT_FIELDS)


def _namespace(connection: Connection) -> str:
    """The tenant's namespace (packets other than Initialize run on initialized sessions only)."""
    tenant = connection.state.tenant
    assert tenant is not None
    return tenant.namespace


def _metadata(connection: Connection, packet_id: int) -> Metadata:
    return Metadata(actor=connection.state.client_id, adapter=ADAPTER, correlation_id=str(packet_id))


def _stream(connection: Connection, revision_id: str | None) -> str:
    """The session's stream in a revision of the tenant (None: its own); a bad id raises
    `ValidationFailed`, which closes 4302 like the engine's other bounds."""
    return revision_stream(_namespace(connection), revision_id, connection.state.session_id)


# -- Initialize -------------------------------------------------------------------------------------
def _tenant_for(config: ServerConfig, key: str | None) -> Tenant | None:
    if key is None:
        return config.anonymous_tenant
    if len(key) != WEBSOCKET_KEY_LENGTH:
        return None
    return config.tenant_for_key(key)


async def initialize(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(Initialize, packet)
    state, config = connection.state, connection.config
    if state.initialized:
        return response(packet_id, Status.ALREADY_INITIALIZED)
    status = Status.OK
    tenant = None
    if len(body.client_id) < 4:
        status = Status.CLIENT_ID_TOO_SHORT
    elif len(body.client_id) > 64:
        status = Status.CLIENT_ID_TOO_LONG
    else:
        tenant = _tenant_for(config, body.websocket_api_key)
        if tenant is None:
            status = Status.INVALID_API_KEY
    if tenant is not None:
        try:
            await connection.engine.values.open_connection_session(
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
        if state.failed_initializations >= config.limits.max_failed_initialize:
            raise ProtocolClose(Close.INITIALIZE_FAILED, answer=response(packet_id, status))
        return response(packet_id, status)
    assert tenant is not None
    state.tenant, state.client_id, state.failed_initializations = tenant, body.client_id, 0
    note(tenant=tenant.name)
    log.info("websocket initialized", extra={"session_id": state.session_id})
    return response(packet_id, Status.OK, app_name=tenant.app_name, app_version=tenant.app_version)


# -- session value cache ----------------------------------------------------------------------------
async def set_value(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(SetValuePacket, packet)
    try:
        await connection.engine.values.set(
            _namespace(connection),
            connection.state.session_id,
            body.key,
            body.value,
            ttl_seconds=body.ttl,
            metadata=_metadata(connection, packet_id),
        )
    except (StoreOutOfMemory, StoreOutOfEntries) as refused:
        return response(packet_id, STORE_STATUSES[type(refused)])
    except SessionDeleted:
        return response(packet_id, Status.SESSION_DELETED)
    return response(packet_id, Status.OK)


async def get_value(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(KeyBody, packet)
    stored = await connection.engine.values.get(_namespace(connection), connection.state.session_id, body.key)
    if stored is None:
        return response(packet_id, STORE_STATUSES[StoreValueNotFound])
    return response(packet_id, Status.OK, value=stored.value)


async def delete_value(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(KeyBody, packet)
    try:
        deleted = await connection.engine.values.delete(
            _namespace(connection),
            connection.state.session_id,
            body.key,
            metadata=_metadata(connection, packet_id),
        )
    except StoreValueNotFound:
        deleted = False
    return response(packet_id, Status.OK if deleted else STORE_STATUSES[StoreValueNotFound])


# -- event subscriptions and history (this project's packets) ---------------------------------------
async def subscribe_events(connection: Connection, packet_id: int, packet: Packet) -> None:
    """Answer first, then push. The stored events (from `from_version`) are read and the live
    subscription made before the answer, so the engine's refusal of the request (a version
    beyond its range, NUL in a type) closes 4302 like any packet's, never in a task later."""
    body = parse_body(SubscribeEvents, packet)
    if len(connection.subscriptions) >= connection.config.limits.max_subscriptions:
        await connection.send_text(response(packet_id, Status.TOO_MANY_SUBSCRIPTIONS))
        return
    engine = connection.engine
    namespace, stream = _namespace(connection), _stream(connection, body.revision_id)
    types = frozenset(body.types) if body.types is not None else None
    head = engine.hub.head
    past: AsyncIterator[RecordedEvent] = _none()
    if body.from_version is not None:
        limit = connection.config.limits.history_page_limit
        read = functools.partial(
            engine.read_stream, namespace, stream, to_position=head, types=types, limit=limit
        )
        past = _pages(read, await read(from_version=body.from_version), limit)
    live = engine.subscribe(head, namespace=namespace, stream=stream, types=types)
    number, scope = connection.new_subscription()
    await connection.send_text(response(packet_id, Status.OK, subscription=number, head=head))
    connection.push(number, scope, past, live)


async def _pages(
    read: Callable[..., Awaitable[list[RecordedEvent]]], first: list[RecordedEvent], limit: int
) -> AsyncIterator[RecordedEvent]:
    """A subscription's stored events a page at a time, so that catching up on a long session
    holds one page in memory, not its whole history. `first` is read before the answer: a
    request the engine refuses closes 4302 there, not in the push task."""
    page = first
    while True:
        for event in page:
            yield event
        if len(page) < limit:
            return
        page = await read(from_version=page[-1].version + 1)


async def _none() -> AsyncIterator[RecordedEvent]:
    return
    yield  # an async generator that yields nothing


async def unsubscribe_events(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(UnsubscribeEvents, packet)
    scope = connection.subscriptions.pop(body.subscription, None)
    if scope is None:
        return response(packet_id, Status.SUBSCRIPTION_NOT_FOUND)
    scope.cancel()
    return response(packet_id, Status.OK)


async def read_history(connection: Connection, packet_id: int, packet: Packet) -> str:
    body = parse_body(ReadHistory, packet)
    limit = min(body.limit, connection.config.limits.history_page_limit)
    events = await connection.engine.read_stream(
        _namespace(connection),
        _stream(connection, body.revision_id),
        from_version=body.from_version,
        limit=limit,
    )
    return response(packet_id, Status.OK, events=[event_json(event) for event in events])


# -- session objects (this project's packets) -------------------------------------------------------
async def object_command(connection: Connection, packet_id: int, packet: Packet) -> str:
    """Run the packet's BlobHub command (`objects.PACKETS` names it by packet type) on the
    connection's session, with the value packets' metadata."""
    command = command_body(packet["type"], packet, connection.state.session_id)
    try:
        result = await run_command(
            connection.engine,
            _namespace(connection),
            command.body,
            revision_id=command.revision_id,
            user_id=connection.state.client_id,
            adapter=ADAPTER,
            correlation_id=str(packet_id),
        )
    except CommandError as error:
        return refusal(packet_id, error)
    return answer(packet_id, result)


PACKETS: dict[int, PacketFunction] = {
    PacketType.INITIALIZE: initialize,
    PacketType.SET_VALUE: set_value,
    PacketType.GET_VALUE: get_value,
    PacketType.DELETE_VALUE: delete_value,
    PacketType.SUBSCRIBE_EVENTS: subscribe_events,
    PacketType.UNSUBSCRIBE_EVENTS: unsubscribe_events,
    PacketType.READ_HISTORY: read_history,
    **dict.fromkeys(sorted(OBJECT_TYPES), object_command),
}
"""Packet type -> the function that answers it. A type not here closes 4301 (`SESSION_EVENT`, 150,
is sent by the server only). The session-object packets (110-135) share one function: their
BlobHub command comes from `adapters.websocket.objects.PACKETS`."""
