"""Deliberately broken servers: ASGI middleware around the real app, each seeding one fault.

`FaultyServer(database_url, fault)` is the real server (tests/adapters/server.py) whose app is
wrapped before uvicorn loads it; faults that live in the engine's configuration (the TTL default,
the entry limit) change the running engine's policies instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson

from session_engine.adapters.config import Server
from session_engine.engine.objects.answers import GraphMutation
from session_engine.engine.objects.graphs.operations import ElementChange
from session_engine.engine.values.policy import CONNECTION, Policies
from tests.adapters.rpc.conftest import make_config
from tests.adapters.server import ServerThread

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def rewrite_json(app: App, applies: Callable[[str, str], bool], change: Callable[[Any], Any]) -> App:
    """HTTP answers to requests `applies(method, path)` selects: the JSON body goes through `change`."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not applies(scope["method"], scope["path"]):
            await app(scope, receive, send)
            return
        start: Message = {}
        body = bytearray()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            content = bytes(body)
            if start["status"] == 200 and content:
                content = orjson.dumps(change(orjson.loads(content)))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": content})

        await app(scope, receive, capture)

    return wrapped


def drop_frames(app: App, dropped: Callable[[str], bool]) -> App:
    """Websocket frames the server sends that `dropped(text)` selects never leave it."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return

        async def filtered(message: Message) -> None:
            if message["type"] == "websocket.send" and dropped(message.get("text") or ""):
                return
            await send(message)

        await app(scope, receive, filtered)

    return wrapped


def reversed_listing(app: App) -> App:
    """The Distri session listing, oldest first."""
    return rewrite_json(app, lambda method, path: method == "GET" and path.endswith("/v1/sessions"), _reverse)


def _reverse(document: Any) -> Any:
    return document[::-1] if isinstance(document, list) else document


def dropped_user_part(app: App) -> App:
    """The user-parts answer loses its last part."""

    def drop(document: Any) -> Any:
        return {"parts": document["parts"][:-1]}

    return rewrite_json(app, lambda method, path: method == "GET" and path.endswith("/user-parts"), drop)


def reversed_thread_items(app: App) -> App:
    """A thread's items answered in the reverse of their posting order (a page at a time)."""

    def reverse(document: Any) -> Any:
        if isinstance(document, dict) and isinstance(document.get("items"), list):
            return {**document, "items": document["items"][::-1]}
        return document

    return rewrite_json(app, lambda method, path: method == "POST" and path.endswith("/data"), reverse)


def no_account_event(app: App) -> App:
    """`session.clientAccount.changed` events are never delivered."""
    return drop_frames(app, lambda text: '"type":"event"' in text and "clientAccount.changed" in text)


class FaultyServer(ServerThread):
    """The real server on `database_url` with the test tenants, its app wrapped by `wrap`."""

    def __init__(self, database_url: str, wrap: Callable[[App], App] | None = None, **engine: Any) -> None:
        # Durability off: these servers check semantics, fsyncs would only slow the kit's examples.
        config = make_config().model_copy(update={"server": Server(durability="off")})
        super().__init__(database_url, config, **{"migrate": False, **engine})
        if wrap is not None:
            self.server.config.app = wrap(self.server.config.app)

    def set_connection_policy(self, **changes: Any) -> None:
        """A misconfigured websocket cache (e.g. `default_ttl=timedelta(hours=24)`, `max_entries=65`)."""
        engine = self.app.state.engine
        engine.values.policies = Policies(connection=replace(CONNECTION, **changes))

    def split_graph_batches(self) -> None:
        """Graph mutation batches applied one operation at a time: a refused operation leaves the
        ones before it applied (the batch is not atomic)."""
        objects = self.app.state.engine.objects
        scoped = objects.scoped

        def split(revision_id: Any) -> Any:
            service = scoped(revision_id)
            whole = type(service).apply_graph_mutations.__get__(service)  # idempotent if cached

            async def one_at_a_time(*args: Any, **kwargs: Any) -> GraphMutation:
                namespace, session_id, alias, operations = args
                changed: list[ElementChange] = []
                for operation in operations:
                    changed += (await whole(namespace, session_id, alias, [operation], **kwargs)).elements
                return GraphMutation(changed)

            service.apply_graph_mutations = one_at_a_time
            return service

        objects.scoped = split

    def skip_envelope_revision_check(self) -> None:
        """Envelope reads (download, list) ignore the revision asked: every revision reads the
        tenant's own objects, so one revision's objects show in another's."""
        objects = self.app.state.engine.objects
        scoped = objects.scoped

        def unchecked(revision_id: Any) -> Any:
            service = scoped(revision_id)
            service.download, service.list_objects = objects.download, objects.list_objects
            return service

        objects.scoped = unchecked


__all__ = [
    "FaultyServer",
    "dropped_user_part",
    "no_account_event",
    "reversed_listing",
    "reversed_thread_items",
    "timedelta",
]
