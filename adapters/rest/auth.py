"""Who is asking: `Authorization: Bearer <api key>` -> a configured tenant (and so its namespace).

The rule is `adapters.credentials` (shared with JSON-RPC; `X-Api-Key: <api key>` works too): no
credential, the anonymous tenant when the configuration has one; a malformed header or an unknown
key is always 401 (never a fallback to anonymous: a typo must not leak into another namespace).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPBearer
from starlette.types import Scope

from session_engine.adapters.config import ServerConfig, Tenant
from session_engine.adapters.credentials import API_KEY_HEADER, CredentialRefused, tenant_for
from session_engine.adapters.requests import note
from session_engine.adapters.rest.errors import ApiError
from session_engine.engine import Engine, Metadata

ADAPTER = "rest"
API_KEY_HEADER_BYTES = API_KEY_HEADER.encode()

bearer = HTTPBearer(auto_error=False, description="A tenant's API key; absent: the anonymous tenant.")
"""Declared for OpenAPI only (the security scheme); resolution below reads the header itself."""


@dataclass(slots=True)
class Caller:
    """The resolved tenant of one request, the engine serving it and the request's X-Request-Id.

    One is built for every request, so it is the cheapest record to build: slotted, not frozen
    (nothing assigns to it; a frozen dataclass stores each field through `object.__setattr__`).
    """

    tenant: Tenant
    engine: Engine
    request_id: str | None

    @property
    def namespace(self) -> str:
        return self.tenant.namespace

    def metadata(self) -> Metadata:
        """What every write of the request records: who, through which adapter, which request."""
        return Metadata(actor=self.tenant.name, adapter=ADAPTER, correlation_id=self.request_id)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def resolve_tenant(config: ServerConfig, authorization: str | None, api_key: str | None = None) -> Tenant:
    """The tenant of `Authorization` (or of `X-Api-Key`), else the anonymous one; 401 otherwise."""
    try:
        return tenant_for(config, authorization, api_key)
    except CredentialRefused as refused:
        raise _unauthorized(refused.message) from None


def caller_in(scope: Scope, config: ServerConfig, engine: Engine | None) -> Caller:
    """The caller of a request, from its raw headers (the first of each name counts, as
    `request.headers.get` reads them): the one resolution for the routes and the hot path."""
    authorization = api_key = request_id = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"x-request-id":
            if request_id is None:
                request_id = value.decode("latin-1")
        elif name == API_KEY_HEADER_BYTES and api_key is None:
            api_key = value.decode("latin-1")
    tenant = resolve_tenant(config, authorization, api_key)
    note(tenant=tenant.name)
    if engine is None:
        raise ApiError(503, "unavailable", "the engine is not open")
    return Caller(tenant, engine, request_id)


async def caller(request: Request) -> Caller:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return caller_of(request)


def caller_of(request: Request) -> Caller:
    """`caller_in` for a FastAPI request (the Distri value routes call it directly: no dependency
    resolution per request)."""
    state = request.app.state
    return caller_in(request.scope, state.config, state.engine())
