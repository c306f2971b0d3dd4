"""Who is asking: `Authorization: Bearer <api key>` -> a configured tenant (and so its namespace).

No header: the anonymous tenant when the configuration has one, 401 otherwise. A header with an
unknown key is always 401 (it never falls back to anonymous: a typo must not leak into another
namespace). Keys are compared through `ServerConfig.tenant_for_key`, like the websocket adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPBearer

from session_engine.adapters.config import ServerConfig, Tenant
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


def resolve_tenant(config: ServerConfig, authorization: str | None) -> Tenant:
    if authorization is None:
        tenant = config.anonymous_tenant
        if tenant is None:
            raise _unauthorized("an Authorization: Bearer <api key> header is required")
        return tenant
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("the Authorization header must be: Bearer <api key>")
    tenant = config.tenant_for_key(key.strip())
    if tenant is None:
        raise _unauthorized("unknown API key")
    return tenant


async def caller(request: Request) -> Caller:
    """FastAPI dependency (async: a sync one would cost a thread hop per request)."""
    return caller_of(request)


def caller_of(request: Request) -> Caller:
    """The same, called directly by the hottest routes (skips dependency resolution)."""
    state = request.app.state
    tenant = resolve_tenant(state.config, request.headers.get("authorization"))
    engine: Engine | None = state.engine()
    if engine is None:
        raise ApiError(503, "unavailable", "the engine is not open")
    return Caller(tenant, engine)
