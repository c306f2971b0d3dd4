"""The BlobHub command dispatcher, shared by the REST (`POST /revisions/{id}/data`) and JSON-RPC adapters.

Transport-neutral on purpose: a command body (a mapping) goes in, the command's JSON result comes
out, or a `CommandError` carrying BlobHub's error string and the HTTP status that fits it. Each
transport only wraps these in its own envelope.

Addressing: the namespace is the caller's tenant, and BlobHub's `revision_id` is a scope inside it
(`engine.objects.scopes`): any revision id is the caller's own, and two tenants' `rev_001` are
different revisions. The revision named like the tenant's namespace is the tenant's own objects,
where every object written before revisions were scoped lives (clients addressed it then).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from session_engine.engine import Engine, Metadata
from session_engine.engine.errors import (
    EngineError,
    LimitExceeded,
    NotFound,
    ValidationFailed,
    WrongExpectedVersion,
)
from session_engine.engine.objects import ObjectsService
from session_engine.engine.objects.errors import ElementExists, RevMismatch
from session_engine.engine.objects.models import check_identifier
from session_engine.engine.objects.scopes import stream_for

ADAPTER = "blobhub"


class CommandError(Exception):
    """A refused command: `error` is BlobHub's error string, `status` the HTTP status that fits it."""

    def __init__(self, error: str, status: int, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.status = status
        self.message = message

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "message": self.message}


# -- command bodies (validated at the edge; payloads the engine checks by name stay `Any`) ---------


class _Body(BaseModel):
    # BlobHub sends `engine` (and clients may send more); unknown fields are ignored, not refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    engine: str | None = Field(default=None, description="Accepted and ignored (`workflow_blobhub`).")
    session_id: str = Field(min_length=1, max_length=200)


class _Aliased(_Body):
    alias: str = Field(min_length=1, max_length=200)


Limit = Annotated[int | None, Field(default=None, ge=1, description="Page size; the server caps it.")]


class UploadSessionObject(_Aliased):
    command: Literal["upload_session_object"]
    value: Any = Field(default=None, description="`{type: message|messages|thread|graph, ...}`")


class DownloadSessionObject(_Aliased):
    command: Literal["download_session_object"]


class ListSessionObjects(_Body):
    command: Literal["list_session_objects"]
    cursor: str | None = Field(default=None, description="The `cursor` of the previous page.")
    limit: Limit = None


class DeleteSessionObject(_Aliased):
    command: Literal["delete_session_object"]


class AppendSessionMessages(_Aliased):
    """This project's addition: append to a `messages` object without re-uploading it."""

    command: Literal["append_session_messages"]
    messages: Any = None


class PostSessionThreadItem(_Aliased):
    command: Literal["post_session_thread_item"]
    content: Any = None
    parent_id: str | None = None
    metadata: Any = None


class ListSessionThreadItems(_Aliased):
    command: Literal["list_session_thread_items"]
    ascending: bool = False
    created_since: str | None = None
    created_before: str | None = None
    cursor: str | None = None
    limit: Limit = None


class GetSessionThreadItem(_Aliased):
    command: Literal["get_session_thread_item"]
    item_id: str = Field(min_length=1)


class ApplySessionGraphMutations(_Aliased):
    command: Literal["apply_session_graph_mutations"]
    operations: Any = None


class GetSessionGraphElement(_Aliased):
    command: Literal["get_session_graph_element"]
    element_id: str = Field(min_length=1)


class GetSessionGraphElements(_Aliased):
    command: Literal["get_session_graph_elements"]
    element_ids: list[str] = Field(max_length=1000)


class ListSessionGraphElements(_Aliased):
    command: Literal["list_session_graph_elements"]
    type: Literal["vertex", "edge"] | None = None
    ascending: bool = False
    cursor: str | None = None
    updated_since: str | None = None
    ids_only: bool = False
    limit: Limit = None


class ListSessionGraphNeighbors(_Aliased):
    command: Literal["list_session_graph_neighbors"]
    from_: list[str] = Field(alias="from")
    direction: Literal["out", "in", "both"] = "both"
    label: str | None = None
    neighbor_label: str | None = None
    cursor: str | None = None
    limit: Limit = None


class QuerySessionGraph(_Aliased):
    command: Literal["query_session_graph"]
    query: Any = None


CommandBody = Annotated[
    UploadSessionObject
    | DownloadSessionObject
    | ListSessionObjects
    | DeleteSessionObject
    | AppendSessionMessages
    | PostSessionThreadItem
    | ListSessionThreadItems
    | GetSessionThreadItem
    | ApplySessionGraphMutations
    | GetSessionGraphElement
    | GetSessionGraphElements
    | ListSessionGraphElements
    | ListSessionGraphNeighbors
    | QuerySessionGraph,
    Field(discriminator="command"),
]
"""Every command body as one discriminated union (for OpenAPI / JSON Schema)."""


# -- handlers ------------------------------------------------------------------------------------

Handler = Callable[[ObjectsService, str, Any, Metadata], Awaitable[dict[str, Any]]]
"""A command's handler: the revision's objects service, the namespace, the parsed body, metadata."""


async def _upload(o: ObjectsService, ns: str, b: UploadSessionObject, m: Metadata) -> dict[str, Any]:
    await o.upload(ns, b.session_id, b.alias, b.value, metadata=m)
    return {}


async def _download(o: ObjectsService, ns: str, b: DownloadSessionObject, m: Metadata) -> dict[str, Any]:
    return await o.download(ns, b.session_id, b.alias)


async def _list_objects(o: ObjectsService, ns: str, b: ListSessionObjects, m: Metadata) -> dict[str, Any]:
    return await o.list_objects(ns, b.session_id, after=b.cursor, limit=b.limit)


async def _delete(o: ObjectsService, ns: str, b: DeleteSessionObject, m: Metadata) -> dict[str, Any]:
    await o.delete(ns, b.session_id, b.alias, metadata=m)
    return {}


async def _append(o: ObjectsService, ns: str, b: AppendSessionMessages, m: Metadata) -> dict[str, Any]:
    return await o.append_messages(ns, b.session_id, b.alias, b.messages, metadata=m)


async def _post_item(o: ObjectsService, ns: str, b: PostSessionThreadItem, m: Metadata) -> dict[str, Any]:
    item = await o.post_thread_item(
        ns, b.session_id, b.alias, b.content, parent_id=b.parent_id, item_metadata=b.metadata, metadata=m
    )
    return {"item": item}


async def _list_items(o: ObjectsService, ns: str, b: ListSessionThreadItems, m: Metadata) -> dict[str, Any]:
    return await o.list_thread_items(
        ns,
        b.session_id,
        b.alias,
        ascending=b.ascending,
        created_since=b.created_since,
        created_before=b.created_before,
        limit=b.limit,
        cursor=b.cursor,
    )


async def _get_item(o: ObjectsService, ns: str, b: GetSessionThreadItem, m: Metadata) -> dict[str, Any]:
    return {"item": await o.get_thread_item(ns, b.session_id, b.alias, b.item_id)}


async def _mutate(o: ObjectsService, ns: str, b: ApplySessionGraphMutations, m: Metadata) -> dict[str, Any]:
    return await o.apply_graph_mutations(ns, b.session_id, b.alias, b.operations, metadata=m)


async def _element(o: ObjectsService, ns: str, b: GetSessionGraphElement, m: Metadata) -> dict[str, Any]:
    return {"element": await o.get_graph_element(ns, b.session_id, b.alias, b.element_id)}


async def _elements(o: ObjectsService, ns: str, b: GetSessionGraphElements, m: Metadata) -> dict[str, Any]:
    return await o.get_graph_elements(ns, b.session_id, b.alias, b.element_ids)


async def _list_elements(
    o: ObjectsService, ns: str, b: ListSessionGraphElements, m: Metadata
) -> dict[str, Any]:
    return await o.list_graph_elements(
        ns,
        b.session_id,
        b.alias,
        type=b.type,
        ascending=b.ascending,
        cursor=b.cursor,
        updated_since=b.updated_since,
        ids_only=b.ids_only,
        limit=b.limit,
    )


async def _neighbors(o: ObjectsService, ns: str, b: ListSessionGraphNeighbors, m: Metadata) -> dict[str, Any]:
    return await o.graph_neighbors(
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


async def _query(o: ObjectsService, ns: str, b: QuerySessionGraph, m: Metadata) -> dict[str, Any]:
    return await o.query_graph(ns, b.session_id, b.alias, b.query)


_TABLE: dict[str, tuple[type[_Body], Handler]] = {
    "upload_session_object": (UploadSessionObject, _upload),
    "download_session_object": (DownloadSessionObject, _download),
    "list_session_objects": (ListSessionObjects, _list_objects),
    "delete_session_object": (DeleteSessionObject, _delete),
    "append_session_messages": (AppendSessionMessages, _append),
    "post_session_thread_item": (PostSessionThreadItem, _post_item),
    "list_session_thread_items": (ListSessionThreadItems, _list_items),
    "get_session_thread_item": (GetSessionThreadItem, _get_item),
    "apply_session_graph_mutations": (ApplySessionGraphMutations, _mutate),
    "get_session_graph_element": (GetSessionGraphElement, _element),
    "get_session_graph_elements": (GetSessionGraphElements, _elements),
    "list_session_graph_elements": (ListSessionGraphElements, _list_elements),
    "list_session_graph_neighbors": (ListSessionGraphNeighbors, _neighbors),
    "query_session_graph": (QuerySessionGraph, _query),
}
COMMANDS: frozenset[str] = frozenset(_TABLE)
QUERIES: frozenset[str] = frozenset(
    name for name in COMMANDS if name.split("_")[0] in ("download", "list", "get", "query")
)
"""Commands that only read (what a `/data/query` route accepts); the rest write (`/data/command`)."""


# -- revisions -----------------------------------------------------------------------------------


def check_revision(revision_id: str | None) -> None:
    """A revision id follows the engine's id rule (`invalid_session_object`), named as clients name it."""
    if revision_id is not None:
        check_identifier("revision_id", revision_id)


def revision_stream(namespace: str, revision_id: str | None, session_id: str) -> str:
    """The log stream of a session in a revision (None: the tenant's own), for history reads."""
    check_revision(revision_id)
    return stream_for(namespace, revision_id, session_id)


# -- errors --------------------------------------------------------------------------------------


def status_for(error: EngineError) -> int:
    """The HTTP status that fits an engine error (JSON-RPC uses it as its error code)."""
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, RevMismatch | ElementExists | WrongExpectedVersion):
        return 409
    if isinstance(error, LimitExceeded):
        return 413
    if isinstance(error, ValidationFailed):
        return 400
    return 500


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
    allowed: frozenset[str] = COMMANDS,
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
    model, handler = _TABLE[name]
    try:
        parsed = model.model_validate(body)
    except ValidationError as error:
        raise CommandError("invalid_request", 400, _validation_message(error)) from None
    metadata = Metadata(actor=user_id, adapter=adapter, correlation_id=correlation_id)
    try:
        check_revision(revision_id)
        return await handler(engine.objects.scoped(revision_id), namespace, parsed, metadata)
    except EngineError as error:
        status = status_for(error)
        code = "internal_error" if status == 500 else error.code
        message = "the command failed inside the engine" if status == 500 else str(error)
        raise CommandError(code, status, message) from error


# -- realtime subscriptions ----------------------------------------------------------------------


class SubscriptionParams(BaseModel):
    """`subscription/add` params: a revision, optionally one session, optionally some event types."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["revision"] = "revision"
    scope_id: str = Field(min_length=1)
    target: Literal["session"] | None = None
    target_id: str | None = None
    types: list[str] | None = None


def event_matches(event: dict[str, Any], params: SubscriptionParams) -> bool:
    """True when a BlobHub event (`engine.objects.blobhub_event`) falls under a subscription."""
    if event.get("revision_id") != params.scope_id:
        return False
    if (
        params.target == "session"
        and params.target_id is not None
        and event.get("session_id") != params.target_id
    ):
        return False
    return not params.types or event.get("type") in params.types


command_schema: TypeAdapter[Any] = TypeAdapter(CommandBody)
