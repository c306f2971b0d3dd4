"""Who is asking: `Authorization: Bearer <api key>` -> a configured tenant (and so its namespace).

The rule is `adapters.credentials` (shared with JSON-RPC; `X-Api-Key: <api key>` works too): no
credential, the anonymous tenant when the configuration has one; a malformed header or an unknown
key is always 401 (never a fallback to anonymous: a typo must not leak into another namespace).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPBearer

from session_engine.adapters.config import ServerConfig, Tenant
from session_engine.adapters.credentials import API_KEY_HEADER, CredentialRefused, tenant_for
from session_engine.adapters.rest.errors import ApiError
from session_engine.engine import Engine, Metadata

ADAPTER = "rest"

bearer = HTTPBearer(auto_error=False, description="A tenant's API key; absent: the anonymous tenant.")
"""Declared for OpenAPI only (the security scheme); resolution below reads the header itself."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The resolved tenant of one request and the engine serving it."""

    tenant: Tenant
    engine: Engine

    @property
    def namespace(self) -> str:
        return self.tenant.namespace

    def metadata(self, request: Request) -> Metadata:
        return Metadata(
            actor=self.tenant.name, adapter=ADAPTER, correlation_id=request.headers.get("x-request-id")
        )


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def resolve_tenant(config: ServerConfig, authorization: str | None, api_key: str | None = None) -> Tenant:
    """The tenant of `Authorization` (or of `X-Api-Key`), else the anonymous one; 401 otherwise."""
    try:
        return tenant_for(config, authorization, api_key)
    except CredentialRefused as refused:
        raise _unauthorized(refused.message) from None


async def caller(request: Request) -> Caller:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return caller_of(request)


def caller_of(request: Request) -> Caller:
    """The same, called directly by the hottest routes (skips dependency resolution)."""
    state = request.app.state
    headers = request.headers
    tenant = resolve_tenant(state.config, headers.get("authorization"), headers.get(API_KEY_HEADER))
    engine: Engine | None = state.engine()
    if engine is None:
        raise ApiError(503, "unavailable", "the engine is not open")
    return Caller(tenant, engine)
