"""Wire models of Makaio's `storage:session` namespace, field for field as the seed states them.

The bus and the REST records routes validate payloads with these (`parse`) and answer with them;
the engine takes and answers the domain's types (`engine.records`), which `subjects.py` translates.

camelCase on the wire (aliases), strict types (zod rejects "1" for a number, so do we). An optional
field (`x?: T | undefined`) may be omitted but not sent as null; a nullable one (`T | null`) may be
null. Serialisation drops omitted optionals and keeps required nulls, so `model_dump()` (by alias
by default) is already the wire form: never pass `exclude_none`, it would drop `session: null`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticSerializationError

from session_engine.engine import documents
from session_engine.engine.records.errors import InvalidRecordRequest, Issue
from session_engine.engine.records.errors import Path as IssuePath
from session_engine.engine.records.queries import MAX_PAGE, Status, StatusFilter

BranchKind = Literal["fork", "subagent", "compress", "branch", "rewrite", "coordinator", "aside"]
AgentRole = Literal["lead", "member"]
AgentStatus = Literal["active", "idle", "dead", "disposed"]
CompressionMode = Literal["auto", "manual", "off"]
ApprovalPolicy = Literal["reject", "always-ask", "full-access"]
SegmentPolicy = Literal["verbatim", "summarize", "exclude"]

MAX_KEY = 200
"""Identifiers that live in indexed columns (session, parent, adapter session, execution target)."""


def _no_nul(value: str) -> str:
    # PostgreSQL text columns refuse U+0000; refusing it everywhere keeps both backends alike.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Key = Annotated[str, StringConstraints(max_length=MAX_KEY), AfterValidator(_no_nul)]
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY), AfterValidator(_no_nul)]
Millis = int | Annotated[float, AllowInfNan(False)]
"""Epoch milliseconds: a JSON number (JavaScript's double), finite; booleans are not numbers."""
MAX_OFFSET = 2**62
"""The largest `offset`: offset + limit must stay a 64-bit SQL integer on both backends."""
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE)]
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]


class Wire(BaseModel):
    """Base of every wire model: aliases, strictness, and the omitted-versus-null rules."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
        strict=True,
        extra="ignore",  # zod's default: unknown keys are dropped, not refused
        frozen=True,
    )
    nullable: ClassVar[frozenset[str]] = frozenset()
    """Fields (python names) that may hold null; every other null is refused and never written."""
    omit_null: ClassVar[frozenset[str]] = frozenset()
    """Nullable fields whose null is written as omitted (null and omitted mean the same there)."""

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_where_allowed(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may be omitted but not null")
        return value

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        kept = self.nullable - self.omit_null
        keep = {to_camel(name) for name in kept} | kept
        return {key: value for key, value in data.items() if value is not None or key in keep}


class Agent(Wire):
    agent_id: Text
    adapter_id: Text
    adapter_name: Text
    session_id: Text
    role: AgentRole
    status: AgentStatus
    created_at: Millis
    last_activity_at: Millis
    adapter_session_id: Text | None = None
    model: Text | None = None
    cwd: Text | None = None
    provider_config_id: Text | None = None
    persona_id: Text | None = None
    profile_id: Text | None = None
    harness_id: Text | None = None
    client_id: Text | None = None
    compression_mode: CompressionMode | None = None


class ClientIdentityObservation(Wire):
    client_id: Text
    source: Text
    kind: Text
    observed_at: Millis
    payload: dict[str, Any]


class PipelineStep(Wire):
    action_id: Text
    options: dict[str, Any] | None = None


class Segment(Wire):
    from_message_id: Text
    to_message_id: Text
    policy: SegmentPolicy
    strip_reasoning: bool | None = None
    strip_tool_outputs: bool | None = None
    overrides: dict[str, Literal["exclude"]] | None = None
    summary_text: Text | None = None


class ForkTransforms(Wire):
    removed_message_ids: list[Text] | None = None
    applied_pipeline: list[PipelineStep] | None = None
    segments: list[Segment] | None = None


class SessionRecord(Wire):
    """The stored session record (Makaio's `Session`)."""

    session_id: SessionId
    created_at: Millis
    last_activity_at: Millis
    agents: list[Agent]
    status: Status
    lead_agent_id: Text | None = None
    parent_session_id: Key | None = None
    root_session_id: Key | None = None
    fork_point_message_id: Text | None = None
    branch_kind: BranchKind | None = None
    adapter_name: Text | None = None
    adapter_session_id: Key | None = None
    adapter_id: Text | None = None
    client_id: Text | None = None
    client_account_id: Text | None = None
    last_client_identity_observation: ClientIdentityObservation | None = None
    is_orchestrated: bool | None = None
    title: Text | None = None
    summary: Text | None = None
    summary_updated_at: Millis | None = None
    is_imported: bool | None = None
    fork_transforms: ForkTransforms | None = None
    target_working_directory: Text | None = None
    execution_target_id: Key | None = None
    spawning_tool_call_id: Text | None = None
    approval_policy_override: ApprovalPolicy | None = None
    """null and omitted mean the same (no override); a stored record omits it."""

    nullable = frozenset({"approval_policy_override"})
    omit_null = nullable


class Preview(Wire):
    message_count: int
    first_user_message: str | None

    nullable = frozenset({"first_user_message"})


class ListedSession(SessionRecord):
    preview: Preview | None = None


class SearchedSession(SessionRecord):
    preview: Preview


# -- requests and responses, one pair per subject -----------------------------------------------
class SetRequest(Wire):
    session_id: SessionId
    session: SessionRecord
    if_absent: bool | None = None


class WriteResponse(Wire):
    success: bool
    client_account_changed: bool | None = None


SetResponse = WriteResponse
UpdateResponse = WriteResponse


class UpdateRequest(Wire):
    """A partial update: omitted fields stay; null clears the three fields that accept it."""

    session_id: SessionId
    approval_policy_override: ApprovalPolicy | None = None
    branch_kind: BranchKind | None = None
    client_account_id: Text | None = None
    client_id: Text | None = None
    created_at: Millis | None = None
    execution_target_id: Key | None = None
    fork_point_message_id: Text | None = None
    is_orchestrated: bool | None = None
    last_activity_at: Millis | None = None
    last_client_identity_observation: ClientIdentityObservation | None = None
    parent_session_id: Key | None = None
    root_session_id: Key | None = None
    spawning_tool_call_id: Text | None = None
    status: Status | None = None
    target_working_directory: Text | None = None
    title: Text | None = None

    nullable = frozenset({"approval_policy_override", "execution_target_id", "spawning_tool_call_id"})

    def changes(self) -> dict[str, Any]:
        """The fields given, by wire name, None meaning "clear"."""
        fields = self.model_fields_set - {"session_id"}
        return {to_camel(name): _plain(getattr(self, name)) for name in sorted(fields)}


class GetRequest(Wire):
    session_id: SessionId


class GetResponse(Wire):
    session: SessionRecord | None

    nullable = frozenset({"session"})


class GetByAdapterSessionIdRequest(Wire):
    adapter_session_id: Key


class DeleteRequest(Wire):
    session_id: SessionId


class DeleteResponse(Wire):
    success: bool


class GetChildrenRequest(Wire):
    session_id: SessionId


class ChildSession(Wire):
    session_id: str
    title: str | None
    fork_point_message_id: str | None
    branch_kind: BranchKind | None
    message_count: int
    has_children: bool
    spawning_tool_call_id: str | None = None

    nullable = frozenset({"title", "fork_point_message_id", "branch_kind"})


class GetChildrenResponse(Wire):
    children: list[ChildSession]


class GetStatusCountsRequest(Wire):
    """An empty object."""


class StatusCounts(Wire):
    active: int
    all: int
    archived: int
    closed: int
    discovered: int


class ListRequest(Wire):
    execution_target_id: Key | None = None
    include_preview: bool | None = None
    limit: Limit | None = None
    offset: Offset | None = None
    status: StatusFilter | None = None


class ListResponse(Wire):
    sessions: list[ListedSession]
    total: int


class SearchRequest(Wire):
    query: Text
    is_imported: bool | None = None
    limit: Limit | None = None
    status: StatusFilter | None = None


class SearchResponse(Wire):
    sessions: list[SearchedSession]
    total: int


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


M = TypeVar("M", bound=BaseModel)
# Union branches add their type name to the location; the wire path is what callers need.
_BRANCH_TAGS = frozenset({"int", "float", "function-after[_no_nul(), str]"})


def parse(model: type[M], raw: object) -> M:
    """Validate a wire dict (or pass a model through), turning pydantic's error into the domain's."""
    # The engine's document rule first (nesting, 64-bit integers, NUL...): the models take any
    # integer and free-form payloads of any depth, which the database or the encoder could not.
    if isinstance(raw, model):
        try:
            document: object = raw.model_dump(by_alias=True)
        except PydanticSerializationError as error:  # e.g. a payload nested beyond pydantic's limit
            raise InvalidRecordRequest(f"cannot be written as JSON: {error}") from None
        _check_document(document)
        return raw
    _check_document(raw)
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        issues: dict[IssuePath, Issue] = {}
        for found in error.errors(include_url=False, include_input=False):
            path = tuple(part for part in found["loc"] if part not in _BRANCH_TAGS)
            issues.setdefault(path, Issue(path, found["msg"], found["type"]))  # one per field
        first = next(iter(issues.values()))
        raise InvalidRecordRequest(first.message, first.path, issues=tuple(issues.values())) from None


def _check_document(document: object) -> None:
    breach = documents.problem(document)
    if breach is not None:
        raise InvalidRecordRequest(breach.message, breach.path)
