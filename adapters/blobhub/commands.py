"""BlobHub's commands: `COMMANDS`, wire command name -> the one function that runs it, and
`run_command`, the dispatcher every transport calls (REST `POST /revisions/{id}/data`, JSON-RPC,
the websocket's object packets).

Transport-neutral on purpose: a command body (a mapping) goes in, the command's JSON result comes
out, or a `CommandError` carrying BlobHub's error string and the HTTP status that fits it. Each
transport only wraps these in its own envelope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import ValidationError

from session_engine.adapters.blobhub.documents import (
    BODIES,
    AppendSessionMessages,
    ApplySessionGraphMutations,
    DeleteSessionObject,
    DownloadSessionObject,
    GetSessionGraphElement,
    GetSessionGraphElements,
    GetSessionThreadItem,
    ListSessionGraphElements,
    ListSessionGraphNeighbors,
    ListSessionObjects,
    ListSessionThreadItems,
    PostSessionThreadItem,
    QuerySessionGraph,
    UploadSessionObject,
    answer,
    element_document,
    element_page_document,
    elements_document,
    item_document,
    item_list_document,
    mutation_document,
    neighborhood_document,
    object_document,
    object_list_document,
    query_document,
    summary_document,
)
from session_engine.adapters.blobhub.errors import CommandError, refusal
from session_engine.engine import Engine, Metadata
from session_engine.engine.errors import EngineError
from session_engine.engine.objects import ObjectsService
from session_engine.engine.objects.models import check_identifier
from session_engine.engine.objects.scopes import stream_for

ADAPTER = "blobhub"


Handler = Callable[[ObjectsService, str, Any, Metadata], Awaitable[Any]]
"""A command's function: the revision's objects service, the namespace, the parsed body, metadata;
it returns the engine's answer (`documents.answer` gives BlobHub's document of it)."""


async def _upload(o: ObjectsService, ns: str, b: UploadSessionObject, m: Metadata) -> dict[str, Any]:
    return summary_document(await o.upload(ns, b.session_id, b.alias, b.value, metadata=m))


async def _download(o: ObjectsService, ns: str, b: DownloadSessionObject, m: Metadata) -> dict[str, Any]:
    return object_document(await o.download(ns, b.session_id, b.alias))


async def _list_objects(o: ObjectsService, ns: str, b: ListSessionObjects, m: Metadata) -> dict[str, Any]:
    return object_list_document(await o.list_objects(ns, b.session_id, after=b.cursor, limit=b.limit))


async def _delete(o: ObjectsService, ns: str, b: DeleteSessionObject, m: Metadata) -> None:
    await o.delete(ns, b.session_id, b.alias, metadata=m)
    return None


async def _append(o: ObjectsService, ns: str, b: AppendSessionMessages, m: Metadata) -> dict[str, Any]:
    return summary_document(await o.append_messages(ns, b.session_id, b.alias, b.messages, metadata=m))


async def _post_item(o: ObjectsService, ns: str, b: PostSessionThreadItem, m: Metadata) -> dict[str, Any]:
    item = await o.post_thread_item(
        ns, b.session_id, b.alias, b.content, parent_id=b.parent_id, item_metadata=b.metadata, metadata=m
    )
    return item_document(item)


async def _list_items(o: ObjectsService, ns: str, b: ListSessionThreadItems, m: Metadata) -> dict[str, Any]:
    page = await o.list_thread_items(
        ns,
        b.session_id,
        b.alias,
        ascending=b.ascending,
        created_since=b.created_since,
        created_before=b.created_before,
        limit=b.limit,
        cursor=b.cursor,
    )
    return item_list_document(page)


async def _get_item(o: ObjectsService, ns: str, b: GetSessionThreadItem, m: Metadata) -> dict[str, Any]:
    return item_document(await o.get_thread_item(ns, b.session_id, b.alias, b.item_id))


async def _mutate(o: ObjectsService, ns: str, b: ApplySessionGraphMutations, m: Metadata) -> dict[str, Any]:
    return mutation_document(
        await o.apply_graph_mutations(ns, b.session_id, b.alias, b.operations, metadata=m)
    )


async def _element(o: ObjectsService, ns: str, b: GetSessionGraphElement, m: Metadata) -> dict[str, Any]:
    return element_document(await o.get_graph_element(ns, b.session_id, b.alias, b.element_id))


async def _elements(o: ObjectsService, ns: str, b: GetSessionGraphElements, m: Metadata) -> dict[str, Any]:
    return elements_document(await o.get_graph_elements(ns, b.session_id, b.alias, b.element_ids))


async def _list_elements(
    o: ObjectsService, ns: str, b: ListSessionGraphElements, m: Metadata
) -> dict[str, Any]:
    page = await o.list_graph_elements(
        ns,
        b.session_id,
        b.alias,
        type=b.type,
        ascending=b.ascending,
        cursor=b.cursor,
        updated_since=b.updated_since,
        limit=b.limit,
    )
    return element_page_document(page, ids_only=b.ids_only)


async def _neighbors(o: ObjectsService, ns: str, b: ListSessionGraphNeighbors, m: Metadata) -> dict[str, Any]:
    found = await o.graph_neighbors(
        ns,
        b.session_id,
        b.alias,
        b.from_,
        direction=b.direction,
        label=b.label,
        neighbor_label=b.neighbor_label,
        cursor=b.cursor,
        limit=b.limit,
    )
    return neighborhood_document(found)


async def _query(o: ObjectsService, ns: str, b: QuerySessionGraph, m: Metadata) -> dict[str, Any]:
    return query_document(await o.query_graph(ns, b.session_id, b.alias, b.query))


COMMANDS: dict[str, Handler] = {
    "upload_session_object": _upload,
    "download_session_object": _download,
    "list_session_objects": _list_objects,
    "delete_session_object": _delete,
    "append_session_messages": _append,
    "post_session_thread_item": _post_item,
    "list_session_thread_items": _list_items,
    "get_session_thread_item": _get_item,
    "apply_session_graph_mutations": _mutate,
    "get_session_graph_element": _element,
    "get_session_graph_elements": _elements,
    "list_session_graph_elements": _list_elements,
    "list_session_graph_neighbors": _neighbors,
    "query_session_graph": _query,
}
"""Wire command name -> the one function that runs it: BlobHub's `/data` routes, JSON-RPC and the
websocket packets (through `run_command`) and REST's resource routes all call these. The body
model is `documents.BODIES[name]`."""
NAMES: frozenset[str] = frozenset(COMMANDS)
QUERIES: frozenset[str] = frozenset(
    name for name in COMMANDS if name.split("_")[0] in ("download", "list", "get", "query")
)
"""Commands that only read (what a `/data/query` route accepts); the rest write (`/data/command`)."""


def check_revision(revision_id: str | None) -> None:
    """A revision id follows the engine's id rule (`invalid_session_object`), named as clients name it."""
    if revision_id is not None:
        check_identifier("revision_id", revision_id)


def revision_stream(namespace: str, revision_id: str | None, session_id: str) -> str:
    """The log stream of a session in a revision (None: the tenant's own), for history reads."""
    check_revision(revision_id)
    return stream_for(namespace, revision_id, session_id)


def _validation_message(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


async def run_command(
    engine: Engine,
    namespace: str,
    body: Mapping[str, Any],
    *,
    revision_id: str | None = None,
    user_id: str | None,
    adapter: str = ADAPTER,
    correlation_id: str | None = None,
    allowed: frozenset[str] = NAMES,
) -> dict[str, Any]:
    """Run one BlobHub command for `namespace` in revision `revision_id` (None: the namespace's own);
    `user_id` is the actor (thread items, graph `user_id`).

    Raises `CommandError` for an unknown command, bad input and every named engine error.
    """
    if not isinstance(body, Mapping):
        raise CommandError("invalid_request", 400, "the body must be a JSON object")
    name = body.get("command")
    if not isinstance(name, str) or name not in allowed:
        known = ", ".join(sorted(allowed))
        # Only a string is shown, cut short: the repr of any JSON could be huge, or nested too
        # deep for Python to write.
        message = f"unknown command {name[:100]!r}" if isinstance(name, str) else "command must be a string"
        raise CommandError("unknown_command", 400, f"{message}; known: {known}")
    model, handler = BODIES[name], COMMANDS[name]
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        raise CommandError("invalid_request", 400, _validation_message(error)) from None
    metadata = Metadata(actor=user_id, adapter=adapter, correlation_id=correlation_id)
    try:
        check_revision(revision_id)
        return answer(name, await handler(engine.objects.scoped(revision_id), namespace, parsed, metadata))
    except EngineError as error:
        raise refusal(error) from error
