"""Which tenant an HTTP request's credential names: one rule for REST and for JSON-RPC (`/rpc`).

- `Authorization: Bearer <api key>`; any other Authorization header (another scheme, `Bearer`
  without a key) is refused, never read as "no credential".
- Where the transport allows it (JSON-RPC): `X-Api-Key: <api key>`, or `?api_key=<api key>` on the
  URL (browsers cannot set headers on a websocket upgrade). Authorization wins when both are sent;
  an empty key is refused.
- No credential at all: the anonymous tenant when the configuration has one, refused otherwise.
- A key no tenant holds is refused: it never falls back to the anonymous tenant (a typo must not
  leak into another namespace).

Each transport answers `CredentialRefused` in its own shape (REST and JSON-RPC over HTTP: 401 with
`WWW-Authenticate: Bearer`; a websocket upgrade: 403). The access log never shows the URL key
(`adapters.logs.RedactCredentials`).
"""

from __future__ import annotations

from session_engine.adapters.config import ServerConfig, Tenant

API_KEY_PARAMETER = "api_key"
"""The query parameter that may carry an API key (JSON-RPC); redacted from every log line."""
API_KEY_HEADER = "x-api-key"


class CredentialRefused(Exception):
    """The request's credential names no tenant; `message` says why (never the key itself)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def tenant_for(config: ServerConfig, authorization: str | None, api_key: str | None = None) -> Tenant:
    """The tenant of a request's `Authorization` header, else of its API key, else the anonymous one."""
    if authorization is not None:
        scheme, _, key = authorization.strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise CredentialRefused("the Authorization header must be: Bearer <api key>")
    elif api_key is not None:
        key = api_key.strip()
        if not key:
            raise CredentialRefused("the API key is empty")
    else:
        anonymous = config.anonymous_tenant
        if anonymous is None:
            raise CredentialRefused("an Authorization: Bearer <api key> header is required")
        return anonymous
    tenant = config.tenant_for_key(key)
    if tenant is None:
        raise CredentialRefused("unknown API key")
    return tenant
